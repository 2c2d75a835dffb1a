"""Cohort decisions of the real Python SDKs, for fledge-sticky's conformance tests.

Two steps, both run by make_sdk_cohorts.sh:

    python make_sdk_cohorts.py inputs INPUTS.json
        Draws the ids, groups / seeds and weights (fixed random seed, so the
        same inputs every run) and writes them to INPUTS.json. The Node
        script reads the same file.

    python make_sdk_cohorts.py evaluate INPUTS.json OUT_DIR
        Asks the installed SDKs, through their public APIs and with no server,
        for their decision on every input, and writes
        OUT_DIR/unleash-python.json and OUT_DIR/growthbook-python.json.

The ids are mostly non-ASCII: accented Latin, Latin Extended (whose UTF-16
low bytes are ASCII letters), Greek, Cyrillic, CJK, kana, Hangul, Arabic and
Hebrew (right to left), Devanagari, Thai, combining marks (NFC and NFD forms
of the same name), emoji (astral: surrogate pairs, ZWJ sequences, flags,
skin tones) and other astral characters.
"""

import json
import random
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

GENERATOR = "scripts/conformance/make_sdk_cohorts.sh (make_sdk_cohorts.py, make_sdk_cohorts.mjs)"
RANDOM_SEED = 20261122
N_RANDOM_IDS = 160

# Groups (Unleash groupId) and seeds (GrowthBook): ASCII and not.
GROUPS = ["checkout-v2", "répartition-été", "实验-42", "🚀 launch ñ"]

# Unleash rollout percentages: all of 0..=100. The Node SDK also takes
# fractional percentages (`Number(rollout)`); yggdrasil compiles the
# percentage as an integer and turns the strategy off for "12.5".
UNLEASH_PERCENTAGES = list(range(101))
UNLEASH_FRACTIONAL = ["0.01", "0.5", "12.34", "50.5", "99.99"]
UNLEASH_VARIANTS = [["a", 333], ["b", 333], ["c", 334]]

# GrowthBook weights in basis points (canary share w / 10000). Each case
# also gets the three weights around its own bucket, where `n < c` and
# `n <= c` part.
GROWTHBOOK_WEIGHTS = [0, 1, 10, 100, 500, 1000, 2500, 3333, 5000, 6667, 7500, 9000, 9990, 9999, 10000]
GROWTHBOOK_VERSIONS = [1, 2]

POOLS = {
    "latin": "éèêëàâäáãåçñöôóòõøüûúùßæœÿíìîïÉÈÀÇÑÖÜÅØÆŒ",
    "latin_ext": "ŁłŐőŠšŽžĞğİıȘșĀāČčĘęŃńŚśŹźĽľŤťŮůĆćŻż",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΘΛΞΠΣΦΨΩάέήίόύώ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЖЗИКЛМНПРСТФЦЧШЩЮЯёЁ",
    "cjk": "用户名字测试数据中文日本語漢字学生朋友电话号码北京上海東京大阪",
    "kana": "あいうえおかきくけこさしすせそカタカナユーザーテスト",
    "hangul": "가나다라마바사아자차카타파하한국어사용자",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "नमस्तेदेवनागरीउपयोगकर्ता",
    "thai": "สวัสดีภาษาไทยผู้ใช้",
    "emoji": ["😀", "😃", "🚀", "🎉", "👍🏽", "👩\u200d💻", "🇫🇷", "🇯🇵", "❤️", "🦀", "🧑🏿\u200d🚀", "🏳️\u200d🌈"],
    "astral": ["𝒜", "𝔅", "𝕮", "𠀀", "𠜎", "𡃁", "🀄", "𓂀", "𐍈"],
    "combining": ["e\u0301", "a\u0308", "o\u0302", "n\u0303", "s\u0323", "c\u0327", "\u0915\u094d"],
    "special": ["\ufffd", "\ufeff", "\u200f", "\u00a0", "\ue000", "\ud7ff", "\uffff", "\u00ff", "\u0100"],
}

# Ids worth having whatever the draw gives.
FIXED_IDS = [
    "122",
    "user-42",
    "8c1f2a4e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "josé",
    "José",
    "Jose\u0301",  # NFD: differs from "José" for every SDK (none normalizes)
    "josé.garcía@exämple.com",
    "Zoë",
    "Ł",  # U+0141: its UTF-16 low byte is "A"
    "A",
    "用户",
    "用户42",
    "ユーザー",
    "사용자",
    "محمد",
    "محمد@example.com",
    "שלום",
    "नमस्ते",
    "Ђорђе",
    "Ωmega",
    "😀",
    "👩\u200d💻",
    "🇫🇷",
    "user-😀-1",
    "𠜎𠀀",
    "\ufffd",
    "é",
]


def draw_ids(rng):
    ids = list(FIXED_IDS)
    shapes = ["word", "name", "email", "mixed", "script_mix"]
    while len(ids) < len(FIXED_IDS) + N_RANDOM_IDS:
        pools = list(POOLS)
        shape = rng.choice(shapes)

        def word(pool, lo=1, hi=8):
            chars = POOLS[pool]
            return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))

        if shape == "word":
            text = word(rng.choice(pools))
        elif shape == "name":
            pool = rng.choice(["latin", "latin_ext", "greek", "cyrillic", "combining"])
            text = f"{word(pool, 1, 3)}{rng.choice('abcdefghijklmnoprstuvz')}{word(pool, 1, 4)}"
            text = text[0].upper() + text[1:]
        elif shape == "email":
            text = f"{word(rng.choice(['latin', 'cyrillic', 'cjk', 'arabic']), 2, 6)}@ex{word('latin', 1, 2)}mple.com"
        elif shape == "mixed":
            text = f"user-{word(rng.choice(pools), 1, 4)}-{rng.randint(0, 99999)}"
        else:
            text = "".join(word(rng.choice(pools), 1, 3) for _ in range(rng.randint(2, 4)))
        if text not in ids:
            ids.append(text)
    # A few plain ASCII ids too (UUID-like, numbers).
    for _ in range(13):
        ids.append("%08x-%04x-4%03x-a%03x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 12, 12, 48)))
    return ids


def make_inputs(path):
    rng = random.Random(RANDOM_SEED)
    inputs = {
        "ids": draw_ids(rng),
        "groups": GROUPS,
        "unleash_percentages": UNLEASH_PERCENTAGES,
        "unleash_fractional": UNLEASH_FRACTIONAL,
        "unleash_variants": UNLEASH_VARIANTS,
        "growthbook_weights": GROWTHBOOK_WEIGHTS,
        "growthbook_versions": GROWTHBOOK_VERSIONS,
    }
    Path(path).write_text(json.dumps(inputs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def rollout_toggle(name, group, rollout):
    return {
        "name": name,
        "enabled": True,
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": str(rollout), "stickiness": "default", "groupId": group},
            }
        ],
    }


def variant_toggle(name, variants):
    # Feature-level variants: the group is the toggle's name.
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "default", "parameters": {}}],
        "variants": [
            {"name": n, "weight": w, "weightType": "variable", "stickiness": "default"}
            for n, w in variants
        ],
    }


def unleash_python(inputs):
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    groups, percentages = inputs["groups"], inputs["unleash_percentages"]
    features = []
    for g in groups:
        features += [rollout_toggle(f"{g}#{p}", g, p) for p in percentages]
        features.append(variant_toggle(g, inputs["unleash_variants"]))
    cache = FileCache("fledge-sdk-cohorts", directory=tempfile.mkdtemp())
    cache.bootstrap_from_dict({"version": 1, "features": features})
    # Bootstrapped, never initialized: no connection is made (the URL is a
    # loopback placeholder the client requires).
    client = UnleashClient(
        url="http://127.0.0.1:9/api",
        app_name="fledge-sdk-cohorts",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )
    cases = []
    for g in groups:
        for user in inputs["ids"]:
            context = {"userId": user}
            bits = "".join("1" if client.is_enabled(f"{g}#{p}", context) else "0" for p in percentages)
            variant = client.get_variant(g, context)["name"]
            cases.append({"group": g, "id": user, "enabled": bits, "variant": variant})
    return {
        "sdk": {
            "language": "python",
            "packages": {
                "UnleashClient": version("UnleashClient"),
                "yggdrasil-engine": version("yggdrasil-engine"),
            },
            "python": sys.version.split()[0],
        },
        "api": "UnleashClient(...).is_enabled(toggle, {'userId': id}) and .get_variant(group, ...), "
        "from a bootstrapped toggle list, no server",
        "strategy": "flexibleRollout, stickiness default, groupId = group, rollout = percentage",
        "percentages": percentages,
        "variants": inputs["unleash_variants"],
        "cases": cases,
    }


def growthbook_python(inputs):
    from growthbook import Experiment, GrowthBook

    cases = []
    for seed in inputs["groups"]:
        for user in inputs["ids"]:
            for v in inputs["growthbook_versions"]:
                cases.append(growthbook_case(GrowthBook, Experiment, inputs, seed, user, v))
    return {
        "sdk": {"language": "python", "packages": {"growthbook": version("growthbook")}, "python": sys.version.split()[0]},
        "api": "GrowthBook(attributes={'id': id}, features=...).run(Experiment(...)) and .is_on(feature)",
        "weights_bps": inputs["growthbook_weights"],
        "cases": cases,
    }


def growthbook_case(GrowthBook, Experiment, inputs, seed, user, v):
    def decide(gb, w):
        share = w / 10000
        result = gb.run(
            Experiment(key="exp", seed=seed, hashVersion=v, variations=[0, 1], weights=[share, 1 - share])
        )
        canary = result.inExperiment and result.variationId == 0
        return result.bucket, canary, gb.is_on(f"rollout-{w}")

    def features(weights):
        return {
            f"rollout-{w}": {
                "defaultValue": False,
                "rules": [{"force": True, "coverage": w / 10000, "hashVersion": v, "seed": seed, "hashAttribute": "id"}],
            }
            for w in weights
        }

    weights = inputs["growthbook_weights"]
    gb = GrowthBook(attributes={"id": user}, features=features(weights))
    results = [decide(gb, w) for w in weights]
    n = results[0][0]
    assert all(r[0] == n for r in results), (seed, user, v)
    b = round(n * 10000)
    edge_weights = [w for w in (b - 1, b, b + 1) if 0 <= w <= 10000]
    gb_edge = GrowthBook(attributes={"id": user}, features=features(edge_weights))
    edge = [[w, int(c), int(r)] for w, (_, c, r) in zip(edge_weights, (decide(gb_edge, w) for w in edge_weights))]
    return {
        "seed": seed,
        "id": user,
        "version": v,
        "n": n,
        "canary": "".join("1" if c else "0" for _, c, _ in results),
        "rollout": "".join("1" if r else "0" for _, _, r in results),
        "edge": edge,
    }


def write(path, doc):
    """One header field and one case a line, so a regeneration diffs readably."""
    doc = {"generator": GENERATOR, **doc}
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in doc.items() if k != "cases"]
    cases = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in doc["cases"])
    text = "{\n" + "\n".join(lines) + '\n "cases": [\n' + cases + "\n ]\n}\n"
    json.loads(text)  # still valid JSON
    Path(path).write_text(text, encoding="utf-8")


def main(argv):
    if len(argv) == 3 and argv[1] == "inputs":
        make_inputs(argv[2])
    elif len(argv) == 4 and argv[1] == "evaluate":
        inputs = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
        out = Path(argv[3])
        write(out / "unleash-python.json", unleash_python(inputs))
        write(out / "growthbook-python.json", growthbook_python(inputs))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
