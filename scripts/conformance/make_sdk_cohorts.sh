#!/usr/bin/env bash
# Regenerates testdata/conformance/sdk_cohorts/ from the real SDK packages:
# PyPI UnleashClient (yggdrasil-engine) and growthbook, npm unleash-client and
# @growthbook/growthbook, at the versions pinned beside this script
# (requirements.txt, package.json + package-lock.json).
#
# Needs python3 (3.11) with venv, node (20) and npm, and the package
# registries; the tests need none of it: they read the committed JSON.
#
#     scripts/conformance/make_sdk_cohorts.sh
#
# The packages go into a temporary folder (or $SDK_COHORTS_WORK, kept), never
# into the repository.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/testdata/conformance/sdk_cohorts"

if [[ -n "${SDK_COHORTS_WORK:-}" ]]; then
    work=$SDK_COHORTS_WORK
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

echo "installing the SDKs into $work" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/package.json" "$here/package-lock.json" "$here/make_sdk_cohorts.mjs" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)

mkdir -p "$out"
"$work/venv/bin/python" "$here/make_sdk_cohorts.py" inputs "$work/inputs.json"
echo "evaluating the Python SDKs" >&2
"$work/venv/bin/python" "$here/make_sdk_cohorts.py" evaluate "$work/inputs.json" "$out"
echo "evaluating the JavaScript SDKs" >&2
node "$work/make_sdk_cohorts.mjs" "$work/inputs.json" "$out"

ls -l "$out" >&2
