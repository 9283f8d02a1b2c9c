#!/bin/bash
# lambda verify on simulated evidence: exit 0 for good evidence, 1 for
# evidence that fails a check, 2 for documents that cannot be used.
set -u
build=${LAMBDA_BUILD_DIR:?}
lambda=$build/cli/lambda
mk=$build/tests/tools/make_sim_evidence
[ -x "$lambda" ] && [ -x "$mk" ] || { echo "1..0 # SKIP binaries not built"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

# expect STATUS DESCRIPTION -- COMMAND...: runs COMMAND, output in $tmp/out.
expect() {
	local want=$1 desc=$2
	shift 3
	n=$((n + 1))
	"$@" >"$tmp/out" 2>&1
	local got=$?
	if [ "$got" = "$want" ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc (exit $got, expected $want)"
		sed 's/^/# /' "$tmp/out"
		failed=$((failed + 1))
	fi
}

# has TEXT DESCRIPTION: the last output contains TEXT.
has() {
	n=$((n + 1))
	if grep -qF -- "$1" "$tmp/out"; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2 (no '$1' in output)"
		sed 's/^/# /' "$tmp/out"
		failed=$((failed + 1))
	fi
}

echo "1..31"
nonce=00112233445566778899aabbccddeeff
"$mk" --save-key "$tmp/sim.pem" --nonce $nonce -o "$tmp/good.json" || exit 1
"$mk" --key "$tmp/sim.pem" --nonce $nonce --debug -o "$tmp/debug.json" || exit 1
m=$("$mk" --print-measurement)
other=$("$mk" --print-measurement --image docker.io/library/evil:1)

expect 0 "good simulated evidence, allowed" -- "$lambda" verify "$tmp/good.json" --allow-simulated-insecure
has "✓ signature:" "signature check shown"
has "verified" "verdict printed"
has "offers no protection" "simulated warning printed"

expect 1 "simulated evidence refused by default" -- "$lambda" verify "$tmp/good.json"
has "NOT VERIFIED: platform" "refusal names the platform check"
has "✗ platform:" "platform check marked failed"

expect 0 "pinned measurement with sha384: prefix" -- \
	"$lambda" verify "$tmp/good.json" --allow-simulated-insecure --expect-measurement "$m"
expect 0 "pinned measurement as bare hex" -- \
	"$lambda" verify "$tmp/good.json" --allow-simulated-insecure --expect-measurement "${m#sha384:}"
expect 1 "wrong measurement" -- \
	"$lambda" verify "$tmp/good.json" --allow-simulated-insecure --expect-measurement "$other"
has "NOT VERIFIED: measurement" "failure names the measurement check"

expect 0 "expected nonce" -- "$lambda" verify "$tmp/good.json" --allow-simulated-insecure --nonce $nonce
expect 1 "other nonce" -- "$lambda" verify "$tmp/good.json" --allow-simulated-insecure --nonce ${nonce%ff}fe
expect 1 "debug flag set" -- "$lambda" verify "$tmp/debug.json" --allow-simulated-insecure

expect 0 "--json verdict" -- "$lambda" verify "$tmp/good.json" --allow-simulated-insecure --json
has '"verified": true' "JSON verdict says verified"

# The document claims another measurement than its signed report.
sed "s/\"measurement\": \"sha384:[0-9a-f]*\"/\"measurement\": \"$other\"/" "$tmp/good.json" >"$tmp/lying.json"
expect 1 "document disagreeing with its report" -- "$lambda" verify "$tmp/lying.json" --allow-simulated-insecure
has "NOT VERIFIED: report consistency" "failure names report consistency"

# Unusable input.
head -c $(($(wc -c <"$tmp/good.json") / 2)) "$tmp/good.json" >"$tmp/truncated.json"
expect 2 "truncated document" -- "$lambda" verify "$tmp/truncated.json" --allow-simulated-insecure
has "not valid JSON" "truncation explained"
sed 's/"evidence": "/"evidence": "*/' "$tmp/good.json" >"$tmp/corrupt.json"
expect 2 "corrupted evidence field" -- "$lambda" verify "$tmp/corrupt.json" --allow-simulated-insecure
has '"evidence"' "corrupted field named"
expect 2 "missing file" -- "$lambda" verify "$tmp/none.json"
expect 2 "bad --nonce" -- "$lambda" verify "$tmp/good.json" --nonce xyz
expect 2 "missing --policy file" -- "$lambda" verify "$tmp/good.json" --policy "$tmp/none.policy"
expect 2 "missing --cert file, though simulated evidence uses none" -- \
	"$lambda" verify "$tmp/good.json" --allow-simulated-insecure --cert "$tmp/none.der"
has "none.der" "the missing certificate is named"
expect 2 "missing --root file" -- "$lambda" verify "$tmp/good.json" --allow-simulated-insecure --root "$tmp/none.pem"
expect 2 "missing --collateral directory" -- \
	"$lambda" verify "$tmp/good.json" --allow-simulated-insecure --collateral "$tmp/none"
expect 0 "--help" -- "$lambda" verify --help
has "exit status" "manual printed"

[ "$failed" = 0 ]
