#!/bin/bash
# Regenerates the seed corpora of the attest fuzz targets, evidence_doc and
# sim_report, with the make_sim_evidence helper: valid documents and reports
# plus broken variants of each. Usage: tests/fuzz/gen-attest-corpus.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
mk=${1:-build}/tests/tools/make_sim_evidence
doc=tests/fuzz/corpus/evidence_doc
rep=tests/fuzz/corpus/sim_report
mkdir -p "$doc" "$rep"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$mk" --save-key "$tmp/k.pem" --nonce 00112233 --guest-pk aabbccdd -o "$doc/valid.json"
"$mk" --key "$tmp/k.pem" --nonce "" --guest-pk aa --instance inst_x -o "$doc/empty-nonce.json"
"$mk" --key "$tmp/k.pem" --debug -o "$doc/debug.json"
"$mk" --key "$tmp/k.pem" --raw -o "$rep/valid.bin"
"$mk" --key "$tmp/k.pem" --raw --debug --instance "$(printf 'i%.0s' {1..63})" -o "$rep/debug-long-id.bin"

v=$doc/valid.json
head -c 400 "$v" >"$doc/truncated.json"
sed 's/"version": 1/"version": 2/' "$v" >"$doc/version-2.json"
sed 's/"version": 1,/"version": 1, "extra": true,/' "$v" >"$doc/unknown-field.json"
sed 's/"nonce": "00/"nonce": "zz/' "$v" >"$doc/bad-hex.json"
sed 's/"evidence": "/"evidence": "*/' "$v" >"$doc/bad-base64.json"
sed 's/"platform": "simulated"/"platform": "AMD SEV-SNP"/' "$v" >"$doc/other-platform.json"
sed 's/"measurement": "sha384:[0-9a-f]*"/"measurement": "sha384:00"/' "$v" >"$doc/short-measurement.json"
printf '[]' >"$doc/array.json"
printf '{}' >"$doc/empty-object.json"

r=$rep/valid.bin
head -c 255 "$r" >"$rep/truncated.bin"
{ printf 'XMSIMRP1'; tail -c +9 "$r"; } >"$rep/bad-magic.bin"
{ head -c 8 "$r"; printf '\0\0\0\2'; tail -c +13 "$r"; } >"$rep/version-2.bin"
{ head -c 12 "$r"; printf '\0\0\0\6'; tail -c +17 "$r"; } >"$rep/unknown-flags.bin"
{ head -c 160 "$r"; printf 'x'; tail -c +162 "$r"; } >"$rep/unpadded-id.bin"
: >"$rep/empty.bin"
