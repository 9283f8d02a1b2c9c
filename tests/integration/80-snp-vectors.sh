#!/bin/bash
# lambda verify on raw AMD SEV-SNP reports captured on hardware
# ($LAMBDA_SHARED/vectors/snp, cases 1-13 of its MANIFEST.md): exit 0 and
# "verified" for the good ones, exit 1 naming the failing check for the
# others, exit 2 for unusable input. Skips (77) without the vectors.
set -u
build=${LAMBDA_BUILD_DIR:?}
lambda=$build/cli/lambda
v=${LAMBDA_SHARED:-../shared}/vectors/snp
[ -x "$lambda" ] || { echo "1..0 # SKIP lambda not built"; exit 77; }
[ -d "$v" ] || { echo "1..0 # SKIP no $v"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

# check N STATUS TEXT REPORT CERT CHAIN AT [OPTIONS...]: runs lambda verify
# REPORT --cert CERT --cert CHAIN [--at AT], wants exit STATUS and TEXT
# in the output. AT "-" means now.
check() {
	local id=$1 want=$2 text=$3 report=$4 cert=$5 chain=$6 at=$7
	shift 7
	local args=("$v/$report" --cert "$v/$cert" --cert "$v/$chain" "$@")
	[ "$at" = - ] || args+=(--at "$at")
	n=$((n + 1))
	"$lambda" verify "${args[@]}" >"$tmp/out" 2>&1
	local got=$?
	if [ "$got" = "$want" ] && grep -qF -- "$text" "$tmp/out"; then
		echo "ok $n - case $id: $report ($text)"
	else
		echo "not ok $n - case $id: $report (exit $got, expected $want and '$text')"
		sed 's/^/# /' "$tmp/out"
		failed=$((failed + 1))
	fi
}

echo "1..19"
check 1 1 "NOT VERIFIED: debug" snp-milan-gosevguest-report.bin snp-milan-gosevguest-vcek.der \
	amd-milan-ask-ark.pem 2022-09-24T01:00:00Z
check 2 0 "verified" snp-milan-coco-report.bin snp-milan-coco-vcek.der amd-milan-ask-ark.pem 2025-01-01T00:00:00Z
check 3 0 "VLEK -> ASVK" snp-milan-coco-vlek-report-v3.bin snp-milan-coco-vlek.der amd-milan-asvk-ark.pem \
	2025-06-01T00:00:00Z
check 4 1 "NOT VERIFIED: certificate chain" snp-milan-coco-vlek-report-v3.bin snp-milan-coco-vlek.der \
	amd-milan-asvk-ark.pem -
check 4 1 "expired" snp-milan-coco-vlek-report-v3.bin snp-milan-coco-vlek.der amd-milan-asvk-ark.pem -
check 5 1 "NOT VERIFIED: signing key" snp-milan-coco-vlek-report-v3.bin snp-milan-coco-vcek.der \
	amd-milan-ask-ark.pem 2025-06-01T00:00:00Z
check 6 0 "verified" snp-genoa-coco-report-v3.bin snp-genoa-coco-vcek.der amd-genoa-ask-ark.pem 2026-01-01T00:00:00Z
check 7 0 "fmc=1 bl=3 tee=2 snp=5 ucode=97" snp-turin-anolis-report-v5.bin snp-turin-anolis-vcek.der \
	amd-turin-ask-ark.pem 2026-12-01T00:00:00Z
check 7 0 "verified" snp-turin-anolis-report-v5.bin snp-turin-anolis-vcek.der amd-turin-ask-ark.pem \
	2026-12-01T00:00:00Z
check 8 0 "verified" snp-milan-gcp-teekit-report-v5.bin snp-milan-gcp-teekit-vcek.pem amd-milan-ask-ark.pem \
	2026-01-01T00:00:00Z
check 9 0 "VMPL 1" snp-milan-gcp-teekit-reportdata-v5.bin snp-milan-gcp-teekit-vcek.pem amd-milan-ask-ark.pem \
	2026-01-01T00:00:00Z
check 10 0 "verified" snp-milan-anolis-vlek-report-v2.bin snp-milan-anolis-vlek.der amd-milan-asvk-ark.pem \
	2025-01-15T00:00:00Z
check 11 1 "NOT VERIFIED: certificate chain" snp-milan-coco-report.bin snp-milan-coco-vcek.der \
	amd-genoa-ask-ark.pem 2025-01-01T00:00:00Z
check 12 1 "NOT VERIFIED: signature" snp-milan-coco-report-NEG-measurement-flip.bin snp-milan-coco-vcek.der \
	amd-milan-ask-ark.pem 2025-01-01T00:00:00Z
check 13 1 "NOT VERIFIED: certificate chain" snp-milan-coco-report.bin snp-milan-coco-vcek-NEG-invalid-new.der \
	amd-milan-ask-ark.pem 2025-01-01T00:00:00Z
check 13 1 "✗ chip id" snp-milan-coco-report.bin snp-milan-coco-vcek-NEG-invalid-new.der \
	amd-milan-ask-ark.pem 2025-01-01T00:00:00Z
# Policy options on a good report.
check 9 1 "NOT VERIFIED: measurement" snp-milan-gcp-teekit-reportdata-v5.bin snp-milan-gcp-teekit-vcek.pem \
	amd-milan-ask-ark.pem 2026-01-01T00:00:00Z --expect-measurement "sha384:$(printf '00%.0s' {1..48})"
# --root replaces the built-in ARKs: Genoa's root cannot anchor Milan's chain.
awk '/BEGIN/{n++} n==2' "$v/amd-genoa-ask-ark.pem" >"$tmp/genoa-ark.pem"
check 2 1 "not signed by a trusted ARK" snp-milan-coco-report.bin snp-milan-coco-vcek.der amd-milan-ask-ark.pem \
	2025-01-01T00:00:00Z --root "$tmp/genoa-ark.pem"
# A truncated report is unusable input.
head -c 1183 "$v/snp-milan-coco-report.bin" >"$tmp/short.bin"
n=$((n + 1))
"$lambda" verify "$tmp/short.bin" --cert "$v/snp-milan-coco-vcek.der" >"$tmp/out" 2>&1
got=$?
if [ "$got" = 2 ]; then echo "ok $n - truncated report is unusable"; else
	echo "not ok $n - truncated report: exit $got, expected 2"; failed=$((failed + 1)); fi

[ "$failed" = 0 ]
