#!/bin/bash
# Verifications per second on one core (taskset -c 0) for the evidence
# kinds of docs/benchmarks.md "Verification", in three modes (one-shot
# calls; one verifier without, then with, its chain cache), and the cost
# floor of each: the signature verifications our code makes per
# verification in that mode, priced with `openssl speed` in the same run.
# Needs the vectors of ../shared (or $LAMBDA_SHARED) and a build in $BUILD
# (default build/). On a shared machine other processes slow any single
# run down, so every measurement (each openssl speed figure, each bench
# row) is repeated R times, interleaved, and the best kept.
# Usage: bench/verify.sh [N [R]]
set -eu
n=${1:-300}
rounds=${2:-5}
build=${BUILD:-build}
v=${LAMBDA_SHARED:-$(dirname "$0")/../../shared}/vectors
b="taskset -c 0 $build/bench/verify_bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in tdx-2025-09-20a06f000000-tcbinfo.json tdx-2025-09-20a06f000000-qeidentity.json \
	tdx-2025-09-20a06f000000-pck-crl.der tdx-2025-09-20a06f000000-root-ca-crl.der \
	intel-tcb-signing-2025-chain.pem intel-pck-platform-ca-chain.pem; do
	ln -s "$v/tdx/$f" "$tmp/"
done
g=$v/tpm/gce-cos85-nonce9009
declare -A m
best() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { print (b + 0 > a + 0) ? b : a }'; }
p256=0 p384=0 r2048=0 r4096=0
for round in $(seq "$rounds"); do
speed=$(taskset -c 0 openssl speed -seconds 1 ecdsap256 ecdsap384 rsa2048 rsa4096 2>/dev/null)
p256=$(best "$p256" "$(awk '/nistp256/ {print $NF}' <<<"$speed")")
p384=$(best "$p384" "$(awk '/nistp384/ {print $NF}' <<<"$speed")")
r2048=$(best "$r2048" "$(awk '/^rsa 2048/ {print $NF}' <<<"$speed")")
r4096=$(best "$r4096" "$(awk '/^rsa 4096/ {print $NF}' <<<"$speed")")
for mode in oneshot nochain cached; do
	m[snp.$mode]=$(best "${m[snp.$mode]:-0}" "$($b "$n" $mode raw "$v/snp/snp-milan-coco-report.bin" 2025-01-01T00:00:00Z \
		--cert "$v/snp/snp-milan-coco-vcek.der" --cert "$v/snp/amd-milan-ask-ark.pem" | awk '{print $5}')")
	m[tdx.$mode]=$(best "${m[tdx.$mode]:-0}" "$($b $((n * 4)) $mode raw \
		"$v/tdx/tdx-v4-near-20a06f000000-quote.dat" 2025-09-15T00:00:00Z --collateral "$tmp" | awk '{print $5}')")
	m[tpm.$mode]=$(best "${m[tpm.$mode]:-0}" "$($b "$n" $mode tpm "$g.quote-sha256.tpms_attest.bin" 2026-01-01T00:00:00Z \
		"$g.quote-sha256.tpmt_signature.bin" "$g.ak-pub.tpmt_public.bin" "$g.pcrs-sha256.json" \
		"$g.event-log.bin" 9009 --cert "$g.ak-cert.der" --cert "$v/tpm/google-tpm-ek-intermediate-2.der" \
		--cert "$v/tpm/google-tpm-ek-root-1.der" | awk '{print $5}')")
done
while read -r _ piece _ _ rate; do
	piece=${piece#bound-}
	m[bound.$piece]=$(best "${m[bound.$piece]:-0}" "$rate")
done < <($b "$n" bounds tpm "$g.quote-sha256.tpms_attest.bin" 2026-01-01T00:00:00Z \
	"$g.quote-sha256.tpmt_signature.bin" "$g.ak-pub.tpmt_public.bin" "$g.pcrs-sha256.json" "$g.event-log.bin" 9009 \
	--cert "$g.ak-cert.der" --cert "$v/tpm/google-tpm-ek-intermediate-2.der" --cert "$v/tpm/google-tpm-ek-root-1.der")
for mode in nochain-verify cached-verify; do
	m[tpm.$mode]=$(best "${m[tpm.$mode]:-0}" "$($b $((n * 4)) $mode tpm "$g.quote-sha256.tpms_attest.bin" \
		2026-01-01T00:00:00Z "$g.quote-sha256.tpmt_signature.bin" "$g.ak-pub.tpmt_public.bin" \
		"$g.pcrs-sha256.json" "$g.event-log.bin" 9009 --cert "$g.ak-cert.der" \
		--cert "$v/tpm/google-tpm-ek-intermediate-2.der" --cert "$v/tpm/google-tpm-ek-root-1.der" |
		awk '{print $5}')")
done
done
echo "openssl speed verify/s (best of $rounds): ecdsap256 $p256  ecdsap384 $p384  rsa2048 $r2048  rsa4096 $r4096"

# Floors (signatures verified per verification, docs/benchmarks.md):
#   SNP oneshot, nochain: report (P-384) + VCEK by ASK, ASK by ARK, ARK
#        self-signature (3 x RSA-4096 PSS); cached: the report alone
#   TDX oneshot: quote, QE report, PCK by Platform CA, Platform CA by root,
#        Root CA CRL, PCK CRL, TCB Info, QE Identity, TCB Signing cert by
#        root for each of the two (10 x P-256); nochain: quote, QE report,
#        PCK chain (4); cached: quote, QE report (2)
#   TPM oneshot, nochain: quote (RSA-2048), AK cert by intermediate
#        (RSA-2048), intermediate by root (RSA-4096); cached: the quote.
#        The -verify rows parse the document once, outside the clock.
{
	for mode in oneshot nochain cached; do
		echo "snp $mode ${m[snp.$mode]}"
		echo "tdx $mode ${m[tdx.$mode]}"
		echo "tpm $mode ${m[tpm.$mode]}"
	done
	echo "tpm nochain-verify ${m[tpm.nochain-verify]}"
	echo "tpm cached-verify ${m[tpm.cached-verify]}"
} | awk -v p256="$p256" -v p384="$p384" -v r2048="$r2048" -v r4096="$r4096" 'BEGIN {
	f["snp oneshot"] = f["snp nochain"] = 1 / (1 / p384 + 3 / r4096)
	f["snp cached"] = p384
	f["tdx oneshot"] = p256 / 10; f["tdx nochain"] = p256 / 4; f["tdx cached"] = p256 / 2
	f["tpm oneshot"] = f["tpm nochain"] = 1 / (2 / r2048 + 1 / r4096)
	f["tpm cached"] = f["tpm cached-verify"] = r2048
	f["tpm nochain-verify"] = f["tpm oneshot"]
	printf "%-6s %-15s %12s %12s %8s\n", "kind", "mode", "verif/s", "floor/s", "ratio"
}
{
	k = $1 " " $2
	printf "%-6s %-15s %12.1f %12.1f %8.2f\n", $1, $2, $3, f[k], f[k] / $3
}'

# Lower bounds for TPM: the floor plus the pieces no TPM verification can
# skip that are not signatures (docs/benchmarks.md "Why not TPM"): the
# replay of the quoted bank, the PCR file's JSON (the files form) or the
# whole document's (the document form, which holds the PCRs), and in the
# modes that verify the AK chain, what X509_verify_cert() costs beyond
# its two signatures. Each piece is the best of the rounds.
awk -v r2048="$r2048" -v r4096="$r4096" -v pcr="${m[bound.pcr-file]}" -v docj="${m[bound.document]}" \
	-v rep="${m[bound.replay]}" -v chain="${m[bound.ak-chain]}" 'BEGIN {
	us = 1e6
	sig1 = us / r2048; sigs = us * (2 / r2048 + 1 / r4096)
	over = us / chain - us * (1 / r2048 + 1 / r4096)
	printf "\nTPM pieces (us): pcr file JSON %.1f, document JSON %.1f, replay %.1f, AK chain %.1f (%.1f beyond its signatures)\n",
		us / pcr, us / docj, us / rep, us / chain, over
	printf "%-34s %10s %12s %8s\n", "TPM lower bound", "floor us", "bound us", "ratio"
	printf "%-34s %10.1f %12.1f %8.2f\n", "files, chain verified (nochain)", sigs, sigs + us / pcr + us / rep + over,
		(sigs + us / pcr + us / rep + over) / sigs
	printf "%-34s %10.1f %12.1f %8.2f\n", "files, chain cached", sig1, sig1 + us / pcr + us / rep,
		(sig1 + us / pcr + us / rep) / sig1
	printf "%-34s %10.1f %12.1f %8.2f\n", "document, chain verified", sigs, sigs + us / docj + us / rep + over,
		(sigs + us / docj + us / rep + over) / sigs
	printf "%-34s %10.1f %12.1f %8.2f\n", "document, chain cached", sig1, sig1 + us / docj + us / rep,
		(sig1 + us / docj + us / rep) / sig1
}'
