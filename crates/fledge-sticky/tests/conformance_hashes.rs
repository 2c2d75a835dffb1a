//! MurmurHash3 x86_32 and FNV-1a 32 against published vectors
//! (testdata/conformance/hashes, see its README for origins).

use fledge_sticky::{fnv1a_32, murmur3_x86_32};
use serde_json::Value;

const MURMUR3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance/hashes/murmur3_x86_32_vectors.json"
);
const FNV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance/hashes/fnv1a_32_vectors.json"
);

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn hex_u32(text: &str) -> u32 {
    let digits = text.strip_prefix("0x").expect("0x prefix");
    u32::from_str_radix(digits, 16).expect("hex u32")
}

fn as_u32(value: &Value) -> u32 {
    u32::try_from(value.as_u64().expect("number")).expect("fits u32")
}

#[test]
fn murmur3_published_and_derived_vectors() {
    let data = load(MURMUR3);
    let mut checked = 0;
    for key in ["vectors", "seeded_vectors_derived"] {
        for v in data[key].as_array().expect("array") {
            let input = hex_bytes(v["input_hex"].as_str().expect("hex"));
            let seed = as_u32(&v["seed"]);
            let expected = as_u32(&v["expected_u32"]);
            assert_eq!(hex_u32(v["expected"].as_str().expect("hex")), expected);
            assert_eq!(
                murmur3_x86_32(&input, seed),
                expected,
                "{key}: {:?} seed {seed}",
                v["input_utf8"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 27, "only {checked} vectors");
}

/// SMHasher's verification: hash key[0..i] with seed 256 - i for i in 0..256,
/// concatenate the hashes little-endian, hash that with seed 0.
#[test]
fn murmur3_smhasher_verification_value() {
    let data = load(MURMUR3);
    let expected = hex_u32(
        data["smhasher_verification"]["expected"]
            .as_str()
            .expect("hex"),
    );
    let key: Vec<u8> = (0..=255u8).collect();
    let mut hashes = Vec::with_capacity(1024);
    for i in 0..256usize {
        let seed = 256 - i as u32;
        hashes.extend_from_slice(&murmur3_x86_32(&key[..i], seed).to_le_bytes());
    }
    assert_eq!(murmur3_x86_32(&hashes, 0), expected);
    assert_eq!(expected, 0xB0F5_7EE3);
}

#[test]
fn fnv1a_reference_vectors() {
    let data = load(FNV);
    let vectors = data["vectors"].as_array().expect("array");
    assert_eq!(vectors.len(), 203);
    for v in vectors {
        let input = hex_bytes(v["input_hex"].as_str().expect("hex"));
        assert_eq!(input.len() as u64, v["len"].as_u64().expect("len"));
        let expected = hex_u32(v["fnv1a_32"].as_str().expect("hex"));
        assert_eq!(fnv1a_32(&input), expected, "vector {}", v["index"]);
    }
}
