#!/bin/bash
# lambda key: generate, show, refusals (overwrite, loose permissions) and
# derive, whose output is checked against `openssl kdf` computed here
# independently of liblambda. TAP output; exit 77 to skip.
set -u

LAMBDA=${LAMBDA_BUILD_DIR:?}/cli/lambda
[ -x "$LAMBDA" ] || { echo "1..0 # SKIP $LAMBDA not built"; exit 77; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl not installed"; exit 77; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
mode_of() { stat -c %a "$1"; }
hex_of() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# HKDF-SHA256, salt "lambda/v1", L = 32, as DESIGN.md section 4 defines it.
kdf() {
	openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$1" -kdfopt salt:lambda/v1 \
		-kdfopt "info:$2" HKDF | tr -d ':\n' | tr 'A-F' 'a-f'
}

echo "1..16"

id=$("$LAMBDA" key generate --name "test key" --output k.pem 2>gen.err)
check "generate exits 0" test $? -eq 0
check "generate prints a key id" grep -Eq '^lmk_[0-9a-f]{16}$' <<<"$id"
check "key file has mode 600" test "$(mode_of k.pem)" = 600

"$LAMBDA" key show k.pem >show.out 2>&1
check "show prints the name" grep -q "test key" show.out
check "show prints the key id" grep -qF "$id" show.out
check "show never prints the key" test "$(grep -c -F "$(sed -n '/BEGIN/{n;p}' k.pem)" show.out)" = 0
json=$("$LAMBDA" key show --json k.pem)
check "show --json has the key id" grep -q "\"key_id\": \"$id\"" <<<"$json"

cp k.pem before.pem
"$LAMBDA" key generate --name other --output k.pem >/dev/null 2>over.err
rc=$?
check "generate refuses to overwrite (exit 2)" test $rc -eq 2 -a -n "$(grep -i 'refusing to overwrite' over.err)"
check "the existing key is unchanged" cmp -s k.pem before.pem

chmod 644 k.pem
"$LAMBDA" key show k.pem >/dev/null 2>perm.err
rc=$?
check "loose permissions are refused (exit 3, says chmod 600)" test $rc -eq 3 -a -n "$(grep 'chmod 600' perm.err)"
chmod 600 k.pem

# The CMK bytes, read here with base64(1), not with lambda.
cmk=$(sed -n '/^-----BEGIN LAMBDA MASTER KEY-----$/,/^-----END/{/^-----/d;p}' k.pem | base64 -d | od -An -tx1 -v | tr -d ' \n')
region=$(kdf "$cmk" region-kek:us-west-1)
inst=$(kdf "$region" instance-kek:inst_abc123)
slot=$(kdf "$inst" volume-slot:vol_data)

"$LAMBDA" key derive k.pem --region us-west-1 --instance inst_abc123 --output inst.key 2>/dev/null
check "derive writes the instance KEK that openssl kdf computes" test "$(hex_of inst.key)" = "$inst" -a ${#inst} -eq 64
"$LAMBDA" key derive k.pem --region us-west-1 --instance inst_abc123 --volume vol_data --output slot.key 2>/dev/null
check "derive --volume writes the keyslot passphrase that openssl kdf computes" test "$(hex_of slot.key)" = "$slot" -a ${#slot} -eq 64
check "derived files have mode 600" test "$(mode_of inst.key)" = 600 -a "$(mode_of slot.key)" = 600

"$LAMBDA" key derive k.pem --region us-west-1 --instance inst_abc123 --output slot.key 2>/dev/null
rc=$?
check "derive refuses to overwrite (exit 2)" test $rc -eq 2 -a "$(hex_of slot.key)" = "$slot"

if [ -w /dev/full ]; then
	"$LAMBDA" key show k.pem >/dev/full 2>full.err
	rc=$?
	check "show into a full device fails (exit 1) and says so" \
		test $rc -eq 1 -a -n "$(grep 'writing to standard output' full.err)"
else
	ok "show into a full device # SKIP no /dev/full"
fi

chmod 640 k.pem
"$LAMBDA" key derive k.pem --region us-west-1 --instance inst_abc123 --output x.key 2>/dev/null
rc=$?
check "derive refuses a loose key file (exit 3) and writes nothing" test $rc -eq 3 -a ! -e x.key

[ "$failed" = 0 ]
