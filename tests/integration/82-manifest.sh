#!/bin/bash
# Every case (1-34) of the table in $LAMBDA_SHARED/vectors/MANIFEST.md, run
# through `lambda verify --json` with the inputs and time the table states.
# Compared: the verdict (exit status 0 verified, 1 not verified) and either
# the first failing check or, for Intel quotes, the TCB status. The
# expectations below are written from the MANIFEST's "Expected verdict"
# column, not from our output. Skips (77) without the vectors.
#
# Table syntax, one case per line, fields separated by ';':
#   id ; exit ; expect ; at ; evidence ; inputs
# expect: "fail=A|B" (the first failing check is one of these names),
#         "tcb=STATUS" (the verdict's tcb_status), or "-" (nothing more).
# at:     RFC 3339 time, or "now".
# inputs: whitespace-separated; "+file" goes into a fresh --collateral
#         directory for the case (Intel collateral is chosen by content, so
#         each case gets only the files its row names); "kind/file" paths
#         are relative to the vectors folder; anything else is passed as is.
set -u
build=${LAMBDA_BUILD_DIR:?}
lambda=$build/cli/lambda
v=${LAMBDA_SHARED:-../shared}/vectors
[ -x "$lambda" ] || { echo "1..0 # SKIP lambda not built"; exit 77; }
[ -f "$v/MANIFEST.md" ] || { echo "1..0 # SKIP no $v"; exit 77; }
command -v jq >/dev/null || { echo "1..0 # SKIP jq missing"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

M19=snp/amd-milan-ask-ark.pem
MV=snp/amd-milan-asvk-ark.pem
T23="+tdx/tdx-2023-06-tcbinfo-50806f000000.json +tdx/tdx-2023-06-qeidentity-tdqe.json +tdx/tdx-2023-06-pck-platform-crl.der +tdx/intel-root-ca-crl-2023-04.der +tdx/intel-tcb-signing-2018-chain.pem +tdx/intel-pck-platform-ca-chain.pem"
T25="+tdx/tdx-2025-02-tcbinfo-00806f050000.json +tdx/tdx-2025-02-qeidentity-tdqe.json +tdx/tdx-2025-02-pck-platform-crl.der +tdx/intel-root-ca-crl-2024-03.der +tdx/intel-tcb-signing-2018-chain.pem +tdx/intel-pck-platform-ca-chain.pem"
T26="+tdx/tdx-2026-02-qeidentity.json +tdx/tdx-2026-02-pck-crl.der +tdx/tdx-2026-02-root-ca-crl.der +tdx/intel-pck-platform-ca-chain.pem"
S25="+sgx/sgx-2025-06-00a067110000-tcbinfo.json +sgx/sgx-2025-06-00a067110000-qeidentity.json +sgx/sgx-2025-06-00a067110000-root-ca-crl.der +sgx/intel-tcb-signing-2025-chain.pem"
G=tpm/gce-cos85-nonce9009
GCE="--ak $G.ak-pub.tpmt_public.bin --event-log $G.event-log.bin --cert $G.ak-cert.der --cert tpm/google-tpm-ek-intermediate-2.der --cert tpm/google-tpm-ek-root-1.der"
AZ=tpm/azure-snp-vtpm-milan
SW=tpm/swtpm-coco
SWN=a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c12000000000000000000000000000000000

cases=$(cat <<EOF
1;1;fail=debug;2022-09-24T01:00:00Z;snp/snp-milan-gosevguest-report.bin;--cert snp/snp-milan-gosevguest-vcek.der --cert $M19
1;0;-;2022-09-24T01:00:00Z;snp/snp-milan-gosevguest-report.bin;--cert snp/snp-milan-gosevguest-vcek.der --cert $M19 --allow-debug
2;0;-;2025-01-01T00:00:00Z;snp/snp-milan-coco-report.bin;--cert snp/snp-milan-coco-vcek.der --cert $M19
3;0;-;2025-06-01T00:00:00Z;snp/snp-milan-coco-vlek-report-v3.bin;--cert snp/snp-milan-coco-vlek.der --cert $MV
4;1;fail=certificate chain;now;snp/snp-milan-coco-vlek-report-v3.bin;--cert snp/snp-milan-coco-vlek.der --cert $MV
5;1;fail=signing key;2025-06-01T00:00:00Z;snp/snp-milan-coco-vlek-report-v3.bin;--cert snp/snp-milan-coco-vcek.der --cert $M19
6;0;-;2026-01-01T00:00:00Z;snp/snp-genoa-coco-report-v3.bin;--cert snp/snp-genoa-coco-vcek.der --cert snp/amd-genoa-ask-ark.pem
7;0;-;2026-12-01T00:00:00Z;snp/snp-turin-anolis-report-v5.bin;--cert snp/snp-turin-anolis-vcek.der --cert snp/amd-turin-ask-ark.pem
8;0;-;2026-01-01T00:00:00Z;snp/snp-milan-gcp-teekit-report-v5.bin;--cert snp/snp-milan-gcp-teekit-vcek.pem --cert $M19
9;0;-;2026-01-01T00:00:00Z;snp/snp-milan-gcp-teekit-reportdata-v5.bin;--cert snp/snp-milan-gcp-teekit-vcek.pem --cert $M19
10;0;-;2025-01-15T00:00:00Z;snp/snp-milan-anolis-vlek-report-v2.bin;--cert snp/snp-milan-anolis-vlek.der --cert $MV
11;1;fail=certificate chain;2025-01-01T00:00:00Z;snp/snp-milan-coco-report.bin;--cert snp/snp-milan-coco-vcek.der --cert snp/amd-genoa-ask-ark.pem
12;1;fail=signature;2025-01-01T00:00:00Z;snp/snp-milan-coco-report-NEG-measurement-flip.bin;--cert snp/snp-milan-coco-vcek.der --cert $M19
13;1;fail=certificate chain|signature|tcb|chip id;2025-01-01T00:00:00Z;snp/snp-milan-coco-report.bin;--cert snp/snp-milan-coco-vcek-NEG-invalid-new.der --cert $M19
14;1;fail=tcb level|tcb status;2023-07-01T00:00:00Z;tdx/tdx-v4-gotdx-spr-quote.dat;$T23
15;1;fail=collateral|tcb info|qe identity|root ca crl|pck crl;now;tdx/tdx-v4-gotdx-spr-quote.dat;$T23
16;1;fail=fmspc|tcb info;2025-02-20T00:00:00Z;tdx/tdx-v4-gotdx-spr-quote.dat;$T25
17;1;fail=tcb status;2025-02-20T00:00:00Z;tdx/tdx-v4-dcaprs-00806f050000-quote.dat;$T25
17;0;tcb=OutOfDate;2025-02-20T00:00:00Z;tdx/tdx-v4-dcaprs-00806f050000-quote.dat;$T25 --accept-tcb UpToDate,OutOfDate
18;0;tcb=UpToDate;2025-07-01T00:00:00Z;tdx/tdx-v4-phala-b0c06f000000-quote.dat;+tdx/tdx-2025-06-b0c06f000000-tcbinfo.json +tdx/tdx-2025-06-b0c06f000000-qeidentity.json +tdx/tdx-2025-06-b0c06f000000-pck-crl.der +tdx/tdx-2025-06-b0c06f000000-root-ca-crl.der +tdx/intel-tcb-signing-2025-chain.pem +tdx/intel-pck-platform-ca-chain.pem
19;0;tcb=UpToDate;2026-02-25T00:00:00Z;tdx/tdx-v5-gotdx-90c06f000000-quote.dat;+tdx/tdx-2026-02-tcbinfo-90c06f000000.json $T26 +tdx/intel-tcb-signing-2025-chain.pem
20;1;fail=tcb info|qe identity;2026-02-25T00:00:00Z;tdx/tdx-v5-gotdx-90c06f000000-quote.dat;+tdx/tdx-2026-02-tcbinfo-90c06f000000.json $T26 +tdx/intel-tcb-signing-2018-chain.pem
21;0;tcb=UpToDate;2025-09-15T00:00:00Z;tdx/tdx-v4-near-20a06f000000-quote.dat;+tdx/tdx-2025-09-20a06f000000-tcbinfo.json +tdx/tdx-2025-09-20a06f000000-qeidentity.json +tdx/tdx-2025-09-20a06f000000-pck-crl.der +tdx/tdx-2025-09-20a06f000000-root-ca-crl.der +tdx/intel-tcb-signing-2025-chain.pem +tdx/intel-pck-platform-ca-chain.pem
22;1;fail=tcb status;2025-11-01T00:00:00Z;tdx/tdx-v4-coco-00a06d080000-quote.dat;+tdx/tdx-2025-10-tcbinfo-00a06d080000.json +tdx/tdx-2025-10-qeidentity-tdqe.json +tdx/tdx-2025-10-pck-platform-crl.der +tdx/intel-root-ca-crl-2025-03.der +tdx/intel-tcb-signing-2025-chain.pem +tdx/intel-pck-platform-ca-chain.pem
22;0;tcb=OutOfDate;2025-11-01T00:00:00Z;tdx/tdx-v4-coco-00a06d080000-quote.dat;+tdx/tdx-2025-10-tcbinfo-00a06d080000.json +tdx/tdx-2025-10-qeidentity-tdqe.json +tdx/tdx-2025-10-pck-platform-crl.der +tdx/intel-root-ca-crl-2025-03.der +tdx/intel-tcb-signing-2025-chain.pem +tdx/intel-pck-platform-ca-chain.pem --accept-tcb OutOfDate
23;1;fail=quote signature;2023-07-01T00:00:00Z;tdx/tdx-v4-gotdx-spr-quote-NEG-body-0x3C.dat;$T23
24;1;fail=debug|tcb status;2025-02-20T00:00:00Z;sgx/sgx-v3-coco-occlum-00606a000000-quote.dat;+sgx/sgx-2025-02-tcbinfo-v2-00606a000000.json +sgx/sgx-2025-02-qeidentity-qe.json +sgx/sgx-2025-02-pck-platform-crl.der +sgx/intel-root-ca-crl-2024-03.der +sgx/intel-tcb-signing-2018-chain.pem +sgx/intel-pck-platform-ca-chain.pem
24;1;fail=debug;2025-02-20T00:00:00Z;sgx/sgx-v3-coco-occlum-00606a000000-quote.dat;+sgx/sgx-2025-02-tcbinfo-v2-00606a000000.json +sgx/sgx-2025-02-qeidentity-qe.json +sgx/sgx-2025-02-pck-platform-crl.der +sgx/intel-root-ca-crl-2024-03.der +sgx/intel-tcb-signing-2018-chain.pem +sgx/intel-pck-platform-ca-chain.pem --accept-tcb OutOfDate
24;0;tcb=OutOfDate;2025-02-20T00:00:00Z;sgx/sgx-v3-coco-occlum-00606a000000-quote.dat;+sgx/sgx-2025-02-tcbinfo-v2-00606a000000.json +sgx/sgx-2025-02-qeidentity-qe.json +sgx/sgx-2025-02-pck-platform-crl.der +sgx/intel-root-ca-crl-2024-03.der +sgx/intel-tcb-signing-2018-chain.pem +sgx/intel-pck-platform-ca-chain.pem --accept-tcb OutOfDate --allow-debug
25;1;fail=tcb status;2025-07-01T00:00:00Z;sgx/sgx-v3-phala-00a067110000-quote.dat;$S25 +sgx/sgx-2025-06-00a067110000-pck-crl.der +sgx/intel-pck-processor-ca-chain.pem
25;0;tcb=ConfigurationAndSWHardeningNeeded;2025-07-01T00:00:00Z;sgx/sgx-v3-phala-00a067110000-quote.dat;$S25 +sgx/sgx-2025-06-00a067110000-pck-crl.der +sgx/intel-pck-processor-ca-chain.pem --accept-tcb ConfigurationAndSWHardeningNeeded
26;1;fail=pck crl;2025-07-01T00:00:00Z;sgx/sgx-v3-phala-00a067110000-quote.dat;$S25 +tdx/tdx-2025-06-b0c06f000000-pck-crl.der +sgx/intel-pck-platform-ca-chain.pem --accept-tcb ConfigurationAndSWHardeningNeeded
27;1;fail=collateral|root ca crl|pck crl|qe identity;2025-10-01T00:00:00Z;sgx/sgx-v3-tlsn-00906ed50000-quote.dat;+sgx/sgx-2025-09-tcbinfo-00906ed50000.json +sgx/intel-tcb-signing-2025-chain.pem +sgx/intel-pck-processor-ca-chain.pem --accept-tcb SWHardeningNeeded
28;1;fail=collateral|root ca crl|pck crl|qe identity|tcb info;2025-06-01T00:00:00Z;sgx/sgx-v3-chinenyeokafor-90c06f000000-quote.dat;+sgx/intel-pck-platform-ca-chain.pem
29;1;fail=quote signature;2025-07-01T00:00:00Z;sgx/sgx-v3-phala-00a067110000-quote-NEG-reportdata-flip.dat;$S25 +sgx/sgx-2025-06-00a067110000-pck-crl.der +sgx/intel-pck-processor-ca-chain.pem
30;0;-;now;$G.quote-sha256.tpms_attest.bin;--signature $G.quote-sha256.tpmt_signature.bin --pcrs $G.pcrs-sha256.json $GCE --nonce 9009
30;0;-;now;$G.quote-sha1.tpms_attest.bin;--signature $G.quote-sha1.tpmt_signature.bin --pcrs $G.pcrs-sha1.json $GCE --nonce 9009
30;0;-;now;$G.quote-sha384.tpms_attest.bin;--signature $G.quote-sha384.tpmt_signature.bin --pcrs $G.pcrs-sha384.json $GCE --nonce 9009
31;1;fail=nonce;now;$G.quote-sha256.tpms_attest.bin;--signature $G.quote-sha256.tpmt_signature.bin --pcrs $G.pcrs-sha256.json $GCE --nonce 9008
31;1;fail=nonce;now;$G.quote-sha256.tpms_attest.bin;--signature $G.quote-sha256.tpmt_signature.bin --pcrs $G.pcrs-sha256.json $GCE
32;1;fail=signature;now;$G.quote-sha256-NEG-extradata-flip.tpms_attest.bin;--signature $G.quote-sha256.tpmt_signature.bin --pcrs $G.pcrs-sha256.json $GCE --nonce 9009
33;0;-;now;$AZ.quote.tpms_attest.bin;--signature $AZ.quote.rsassa-sha256.sig --ak $AZ.hcl-report.bin --pcrs $AZ.pcrs-sha256.json --cert $AZ.vcek-ask-ark.pem --nonce 6368616c6c656e6765
33;1;fail=nonce;now;$AZ.quote.tpms_attest.bin;--signature $AZ.quote.rsassa-sha256.sig --ak $AZ.hcl-report.bin --pcrs $AZ.pcrs-sha256.json --cert $AZ.vcek-ask-ark.pem --nonce 6368616c6c656e6766
34;1;fail=ak trust;now;$SW.quote.tpms_attest.bin;--signature $SW.quote.tpmt_signature.bin --ak $SW.ak-pub.spki.der --pcrs $SW.pcrs-sha256.json --nonce $SWN
EOF
)

total=$(grep -c . <<<"$cases")
echo "1..$((total + 1))"
n=0 failed=0 seen=""
while IFS=';' read -r id want expect at evidence inputs; do
	[ -n "$id" ] || continue
	n=$((n + 1))
	seen="$seen $id"
	dir="$tmp/c$n"
	mkdir -p "$dir/collateral"
	args=("$v/$evidence" --json)
	coll=0
	for t in $inputs; do
		case $t in
		+*) ln -s "$v/${t#+}" "$dir/collateral/" && coll=1 ;;
		snp/* | tdx/* | sgx/* | tpm/*) args+=("$v/$t") ;;
		*) args+=("$t") ;;
		esac
	done
	[ "$coll" = 1 ] && args+=(--collateral "$dir/collateral")
	[ "$at" = now ] || args+=(--at "$at")
	"$lambda" verify "${args[@]}" >"$dir/out" 2>"$dir/err"
	got=$?
	ok=1 why=""
	[ "$got" = "$want" ] || { ok=0; why="exit $got, expected $want"; }
	if [ "$ok" = 1 ]; then
		case $expect in
		fail=*)
			first=$(jq -r '[.checks[] | select(.ok | not)][0].name // "none"' "$dir/out")
			if ! tr '|' '\n' <<<"${expect#fail=}" | grep -qxF -- "$first"; then
				ok=0 why="first failing check '$first', expected ${expect#fail=}"
			fi ;;
		tcb=*)
			tcb=$(jq -r '.tcb_status // "none"' "$dir/out")
			[ "$tcb" = "${expect#tcb=}" ] || { ok=0; why="tcb status '$tcb', expected ${expect#tcb=}"; } ;;
		esac
	fi
	if [ "$ok" = 1 ]; then
		echo "ok $n - case $id: $(basename "$evidence") ($expect)"
	else
		echo "not ok $n - case $id: $(basename "$evidence"): $why"
		echo "# lambda verify ${args[*]}"
		sed 's/^/# /' "$dir/out" "$dir/err" | head -60
		failed=$((failed + 1))
	fi
done <<<"$cases"

# Every numbered case of the MANIFEST table is covered above.
n=$((n + 1))
missing=""
for id in $(sed -n 's/^| \([0-9][0-9]*\) | .*/\1/p' "$v/MANIFEST.md"); do
	grep -qw -- "$id" <<<"$seen" || missing="$missing $id"
done
if [ -z "$missing" ]; then echo "ok $n - every MANIFEST case is covered"; else
	echo "not ok $n - MANIFEST cases not covered:$missing"; failed=$((failed + 1)); fi
[ "$failed" = 0 ]
