#!/bin/bash
# lambda verify on TPM 2.0 quotes given as separate files (--signature,
# --ak, --pcrs, --event-log, --cert): a fresh quote from a software TPM, then
# the real quotes of $LAMBDA_SHARED/vectors/tpm when present.
set -u
build=${LAMBDA_BUILD_DIR:?}
lambda=$build/cli/lambda
[ -x "$lambda" ] || { echo "1..0 # SKIP lambda not built"; exit 77; }
command -v swtpm >/dev/null && command -v tpm2_quote >/dev/null ||
	{ echo "1..0 # SKIP swtpm or tpm2-tools missing"; exit 77; }

tmp=$(mktemp -d)
port=$((21000 + $$ % 9000 * 2))
cleanup() {
	[ -f "$tmp/pid" ] && kill "$(cat "$tmp/pid")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
n=0 failed=0

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

# A quote from swtpm with an RSA restricted signing key.
# swtpm is installed (checked above), so a start that fails on every port
# tried is a failure, not a reason to skip.
mkdir "$tmp/st"
started=0
for try in 1 2 3 4 5; do
	if swtpm socket --tpm2 --server type=tcp,port=$port --ctrl type=tcp,port=$((port + 1)) \
		--tpmstate dir="$tmp/st" --flags not-need-init,startup-clear --daemon --pid file="$tmp/pid" \
		2>"$tmp/swtpm.err"; then
		started=1
		break
	fi
	port=$((port + 2))
done
[ "$started" = 1 ] || { sed 's/^/# /' "$tmp/swtpm.err"; echo "Bail out! swtpm does not start"; exit 1; }
export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$port
for i in 1 2 3 4 5 6 7 8 9 10; do tpm2_getrandom -Q 4 -o /dev/null 2>/dev/null && break; sleep 0.2; done
flush() { tpm2_flushcontext -t; tpm2_flushcontext -s; }
(
	set -e
	cd "$tmp"
	tpm2_createprimary -Q -C o -g sha256 -G rsa -c prim.ctx; flush
	tpm2_create -Q -C prim.ctx -G rsa2048:rsassa-sha256:null -u ak.pub -r ak.priv \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign'; flush
	tpm2_load -Q -C prim.ctx -u ak.pub -r ak.priv -c ak.ctx; flush
	tpm2_readpublic -Q -c ak.ctx -f pem -o ak.pem; flush
	tpm2_quote -Q -c ak.ctx -l sha256:0,1,7 -q 5f1c0ffee0 -m q.attest -s q.sig -o q.pcrs -F values \
		-g sha256 --scheme rsassa; flush
) >"$tmp/gen.log" 2>&1 || { sed 's/^/# /' "$tmp/gen.log"; echo "Bail out! tpm2-tools could not make a quote"; exit 1; }
kill "$(cat "$tmp/pid")"; rm -f "$tmp/pid"

# tpm2_quote -F values: the raw values in selection order, as our JSON.
pcrs_json() {
	local i=0 idx
	printf '{"hash": "sha256", "pcrs": {'
	for idx in 0 1 7; do
		[ $i -gt 0 ] && printf ', '
		printf '"%s": "%s"' "$idx" "$(od -An -tx1 -v -j $((i * 32)) -N 32 "$1" | tr -d ' \n')"
		i=$((i + 1))
	done
	printf '}}\n'
}
pcrs_json "$tmp/q.pcrs" >"$tmp/pcrs.json"
sed 's/"7": "./"7": "f/' "$tmp/pcrs.json" >"$tmp/pcrs-bad.json"
cmp -s "$tmp/pcrs.json" "$tmp/pcrs-bad.json" && sed -i 's/"7": "./"7": "e/' "$tmp/pcrs-bad.json"

q=("$tmp/q.attest" --signature "$tmp/q.sig" --ak "$tmp/ak.pub")
expect 1 "swtpm quote: signature and PCRs verify, the AK is not certified" -- \
	"$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee0
has "✓ signature:" "RSASSA signature verifies"
has "✓ pcr digest:" "PCR digest recomputed"
has "NOT VERIFIED: ak trust" "only the AK's trust fails"
expect 1 "the same with the AK as PEM" -- \
	"$lambda" verify "$tmp/q.attest" --signature "$tmp/q.sig" --ak "$tmp/ak.pem" --pcrs "$tmp/pcrs.json" \
	--nonce 5f1c0ffee0
has "NOT VERIFIED: ak trust" "PEM AK: only the AK's trust fails"
expect 1 "wrong nonce" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee1
has "NOT VERIFIED: nonce" "the nonce check fails first"
expect 1 "no nonce" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json"
has "NOT VERIFIED: nonce" "no nonce, no freshness"
expect 1 "wrong PCR value" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs-bad.json" --nonce 5f1c0ffee0
has "✗ pcr digest:" "the PCR digest check fails"
for alias in "+7" " 7" "07"; do
	sed "s/\"7\":/\"$alias\":/" "$tmp/pcrs.json" >"$tmp/pcrs-alias.json"
	expect 2 "PCR index \"$alias\" is not a plain decimal index" -- \
		"$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs-alias.json" --nonce 5f1c0ffee0
done
cp "$tmp/q.attest" "$tmp/q-flip.attest"
printf '\x01' | dd of="$tmp/q-flip.attest" bs=1 seek=60 conv=notrunc 2>/dev/null
expect 1 "flipped quote byte" -- "$lambda" verify "$tmp/q-flip.attest" --signature "$tmp/q.sig" --ak "$tmp/ak.pub" \
	--pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee0
has "✗ signature:" "the signature check fails"
# objectAttributes (TPM2B_PUBLIC: size, type, nameAlg, then 4 bytes, big
# endian): reserved bit 3, then x509sign (bit 19), set on the same key.
for at in "9 8" "7 8"; do
	set -- $at
	cp "$tmp/ak.pub" "$tmp/ak-attr.pub"
	python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[int(sys.argv[2])] |= int(sys.argv[3]); open(p,'wb').write(b)" \
		"$tmp/ak-attr.pub" "$1" "$2"
	expect 1 "an AK with objectAttributes byte $1 |= $2 (no TPM makes it)" -- \
		"$lambda" verify "$tmp/q.attest" --signature "$tmp/q.sig" --ak "$tmp/ak-attr.pub" \
		--pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee0
	has "✗ ak:" "... fails the ak check"
done
expect 2 "quote without --signature" -- "$lambda" verify "$tmp/q.attest" --ak "$tmp/ak.pub" --pcrs "$tmp/pcrs.json"
expect 2 "raw quote given as a document" -- "$lambda" verify "$tmp/q.attest"
has "--signature" "the message names the TPM options"
expect 2 "a signature file that is not one" -- "$lambda" verify "$tmp/q.attest" --signature "$tmp/pcrs.json" \
	--ak "$tmp/ak.pub" --pcrs "$tmp/pcrs.json"
expect 2 "a --pcrs file that does not exist is unusable input, not 'no such resource'" -- \
	"$lambda" verify "${q[@]}" --pcrs "$tmp/none.json" --nonce 5f1c0ffee0
has "$tmp/none.json" "... and the message names it"
expect 2 "a directory as --pcrs" -- "$lambda" verify "${q[@]}" --pcrs "$tmp" --nonce 5f1c0ffee0
expect 2 "a directory as the quote" -- "$lambda" verify "$tmp" --signature "$tmp/q.sig" --ak "$tmp/ak.pub" \
	--pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee0
for opt in --signature --ak --event-log --policy; do
	expect 2 "$opt given twice" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json" --nonce 5f1c0ffee0 \
		"$opt" "$tmp/q.sig" "$opt" "$tmp/q.sig"
	has "given twice" "... says so"
done
expect 2 "--nonce given twice, differently" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json" \
	--nonce 5f1c0ffee0 --nonce 5f1c0ffee1
expect 1 "a flag given twice is no conflict" -- "$lambda" verify "${q[@]}" --pcrs "$tmp/pcrs.json" \
	--nonce 5f1c0ffee0 --allow-debug --allow-debug
has "NOT VERIFIED: ak trust" "... and verifies as before"

# The real quotes of the shared vectors (MANIFEST cases 30-32, 34).
v=${LAMBDA_SHARED:-}/vectors/tpm
if [ -d "$v" ]; then
	g=$v/gce-cos85-nonce9009
	for bank in sha1 sha256 sha384; do
		expect 0 "GCE quote ($bank bank), event log and AK chain verify" -- \
			"$lambda" verify "$g.quote-$bank.tpms_attest.bin" --signature "$g.quote-$bank.tpmt_signature.bin" \
			--ak "$g.ak-pub.tpmt_public.bin" --pcrs "$g.pcrs-$bank.json" --event-log "$g.event-log.bin" \
			--cert "$g.ak-cert.der" --cert "$v/google-tpm-ek-intermediate-2.der" \
			--cert "$v/google-tpm-ek-root-1.der" --nonce 9009
	done
	has "✓ event log:" "the event log replays"
	gq=("$g.quote-sha256.tpms_attest.bin" --signature "$g.quote-sha256.tpmt_signature.bin"
		--ak "$g.ak-pub.tpmt_public.bin" --pcrs "$g.pcrs-sha256.json" --cert "$g.ak-cert.der"
		--cert "$v/google-tpm-ek-intermediate-2.der" --cert "$v/google-tpm-ek-root-1.der")
	expect 1 "GCE quote, nonce 9008" -- "$lambda" verify "${gq[@]}" --nonce 9008
	has "NOT VERIFIED: nonce" "extraData mismatch"
	expect 1 "GCE quote without the root" -- "$lambda" verify "$g.quote-sha256.tpms_attest.bin" \
		--signature "$g.quote-sha256.tpmt_signature.bin" --ak "$g.ak-pub.tpmt_public.bin" \
		--pcrs "$g.pcrs-sha256.json" --cert "$g.ak-cert.der" --nonce 9009
	has "✗ ak certificate:" "no trust anchor"
	expect 1 "GCE quote with extraData flipped" -- "$lambda" verify \
		"$g.quote-sha256-NEG-extradata-flip.tpms_attest.bin" "${gq[@]:1}" --nonce 9009
	has "NOT VERIFIED: signature" "the signature check fails"
	expect 1 "swtpm-coco quote: AK untrusted" -- "$lambda" verify "$v/swtpm-coco.quote.tpms_attest.bin" \
		--signature "$v/swtpm-coco.quote.tpmt_signature.bin" --ak "$v/swtpm-coco.ak-pub.spki.der" \
		--pcrs "$v/swtpm-coco.pcrs-sha256.json" \
		--nonce a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c12000000000000000000000000000000000
	has "NOT VERIFIED: ak trust" "signature fine, trust is a policy decision"
else
	echo "# shared vectors absent: real quotes not checked"
fi

echo "1..$n"
[ "$failed" = 0 ]
