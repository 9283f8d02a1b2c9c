#!/bin/bash
# lambda encrypt / decrypt / key rotate --file against tests/tools/lmbdaef1.py,
# an independent implementation of DESIGN.md section 5 (python3-cryptography):
# interop both ways at the segment boundaries and for several MiB, every
# error case through the CLI with its exit status, and never a file left at
# the destination (nor a temporary beside it) when something failed.
# TAP output; exit 77 when python3-cryptography is missing.
set -u

B=${LAMBDA_BUILD_DIR:?}
SRC=${LAMBDA_SOURCE_DIR:?}
L=$B/cli/lambda
REF=$SRC/tests/tools/lmbdaef1.py
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
if ! $PY -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null; then
	echo "1..0 # SKIP python3-cryptography is not installed (scripts/install-deps.sh)"
	exit 77
fi

T=$(mktemp -d /tmp/lm-fileenc-it.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
ref() { $PY "$REF" "$@"; }
# byte OFF of FILE set to VALUE (decimal), or xor-ed with 1 when VALUE is "flip"
poke() {
	$PY - "$@" <<'EOF'
import sys
f, off, v = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = bytearray(open(f, 'rb').read())
b[off] = b[off] ^ 1 if v == 'flip' else int(v)
open(f, 'wb').write(b)
EOF
}
# Nothing at out, nor a temporary .out.XXXXXX beside it.
clean() { [ ! -e out ] && [ -z "$(ls -A . | grep '^\.out\.')" ]; }
# expect_fail DESC STATUS FILE [KEY]: decrypt must fail with STATUS and leave nothing.
expect_fail() {
	local st
	"$L" decrypt --key "${4:-a.pem}" "$3" -o out 2>err
	st=$?
	if [ $st = "$2" ] && clean; then
		ok "$1 (exit $st: $(tail -n 2 err | head -n 1 | cut -c1-90))"
	else
		not_ok "$1: exit $st, want $2; $(ls -A | tr '\n' ' ')"
		cat err >&2
	fi
	rm -f out
}
size_of() { stat -c %s "$1"; }
want_size() { # plaintext size, segment size
	local segs=$((($1 + $2 - 1) / $2))
	[ "$segs" = 0 ] && segs=1
	echo $((88 + $1 + 16 * segs))
}

ref genkey a.pem && ref genkey b.pem || { echo "Bail out! cannot make keys"; exit 1; }
ida=$(ref keyid a.pem)

# ---- interop ----
S=65536
for size in 0 1 $S $((S + 1)) $((2 * S)) $((5 * 1048576 + 123)); do
	head -c $size /dev/urandom > p
	"$L" encrypt --key a.pem p -o c 2>err
	check "encrypt $size bytes" [ $? = 0 ]
	check "ciphertext of $size bytes has $(want_size $size $S) bytes" [ "$(size_of c)" = "$(want_size $size $S)" ]
	rm -f q
	check "reference decrypts lambda's $size bytes" sh -c "$PY $REF decrypt --key a.pem c q && cmp -s p q"
	rm -f c q
	ref encrypt --key a.pem p c
	check "lambda decrypts the reference's $size bytes" sh -c "'$L' decrypt --key a.pem c -o q && cmp -s p q"
	rm -f c q
done
head -c 20000 /dev/urandom > p
"$L" encrypt --key a.pem --segment-size 4096 p -o c
check "--segment-size 4096: layout" [ "$(size_of c)" = "$(want_size 20000 4096)" ]
check "--segment-size 4096: reference decrypts" sh -c "$PY $REF decrypt --key a.pem c q && cmp -s p q"
rm -f c q
ref encrypt --key a.pem --segment-size 16777216 p c
check "lambda decrypts a 16 MiB-segment file" sh -c "'$L' decrypt --key a.pem c -o q && cmp -s p q"
rm -f c q
check "stdin to stdout pipeline" sh -c "cat p | '$L' encrypt --key a.pem - -o - | $PY $REF decrypt --key a.pem - - | cmp -s - p"
check "decrypt --unsafe-stream to stdout" sh -c "$PY $REF encrypt --key a.pem p - | '$L' decrypt --key a.pem - -o - --unsafe-stream | cmp -s - p"

# ---- errors, each with its status and nothing left behind ----
S=4096
head -c $((3 * S + 100)) /dev/urandom > p
"$L" encrypt --key a.pem --segment-size $S p -o base
SEG=$((S + 16))
cp base x && poke x 0 88 && expect_fail "wrong magic" 2 x
cp base x && poke x 7 50 && expect_fail "unsupported version" 2 x
cp base x && poke x 10 15 && expect_fail "segment size below 4096" 2 x
cp base x && poke x 8 1 && expect_fail "segment size above 16 MiB" 2 x
cp base x && poke x 19 1 && expect_fail "non-zero reserved byte" 2 x
expect_fail "wrong key" 3 base b.pem
check "wrong-key message names the file's key $ida" grep -q "$ida" err
cp base x && poke x 10 32 && expect_fail "header tag: segment size changed within range" 1 x
cp base x && poke x 14 flip && expect_fail "header tag: nonce prefix" 1 x
cp base x && poke x 50 flip && expect_fail "header tag: wrapped key" 1 x
cp base x && poke x 87 flip && expect_fail "header tag: its tag" 1 x
: > x && expect_fail "empty input" 2 x
head -c 50 base > x && expect_fail "truncated header" 2 x
head -c 88 base > x && expect_fail "header only, no segment" 2 x
head -c $((88 + SEG + 10)) base > x && expect_fail "truncated inside a tag" 2 x
head -c $((88 + SEG + 1000)) base > x && expect_fail "truncated mid-segment" 1 x
head -c $((88 + 2 * SEG)) base > x && expect_fail "truncated at a segment boundary: last segment missing" 2 x
head -c $(($(size_of base) - 1)) base > x && expect_fail "last byte missing" 1 x
cp base x && printf 'junk' >> x && expect_fail "trailing data after the last segment" 2 x
cp base x && head -c $SEG -- <(tail -c +89 base) >> x && expect_fail "a whole segment appended" 1 x
$PY - base x $SEG <<'EOF'
import sys
b = open(sys.argv[1], 'rb').read(); s = int(sys.argv[3])
seg = [b[88 + i * s:88 + (i + 1) * s] for i in range(4)]
open(sys.argv[2], 'wb').write(b[:88] + seg[1] + seg[0] + seg[2] + seg[3])
EOF
expect_fail "segments 0 and 1 swapped" 1 x
$PY - base x $SEG <<'EOF'
import sys
b = open(sys.argv[1], 'rb').read(); s = int(sys.argv[3])
seg = [b[88 + i * s:88 + (i + 1) * s] for i in range(4)]
open(sys.argv[2], 'wb').write(b[:88] + seg[0] + seg[1] + seg[1] + seg[3])
EOF
expect_fail "segment 1 duplicated over segment 2" 1 x
# A flipped bit anywhere: every header byte, then every 61st byte.
bad=0
for off in $(seq 0 87) $(seq 88 61 $(($(size_of base) - 1))) $(($(size_of base) - 1)); do
	cp base x && poke x $off flip
	"$L" decrypt --key a.pem x -o out 2>/dev/null
	st=$?
	if [ $st = 0 ] || ! clean; then bad=$((bad + 1)); echo "# flip at $off: exit $st" >&2; fi
	rm -f out
done
check "a flipped bit in any byte fails and leaves nothing" [ $bad = 0 ]
echo "# segment counter overflow needs 2^32 segments (16 TiB); covered by tests/unit/test_fileenc.c"

# ---- output discipline ----
"$L" decrypt --key a.pem base -o - > so 2>err
check "decrypt to stdout needs --unsafe-stream (exit 2, nothing written)" sh -c "[ $? = 2 ] && [ ! -s so ]"
head -c $((88 + 2 * SEG + 100)) base | "$L" decrypt --key a.pem - -o - --unsafe-stream > so 2>err
check "--unsafe-stream: truncated input ends non-zero" [ $? != 0 ]
check "--unsafe-stream: says to discard the output" grep -q discard err
echo old > out
"$L" decrypt --key a.pem base -o out 2>err
check "existing output refused without --force (exit 2, untouched)" sh -c "[ $? = 2 ] && [ \"\$(cat out)\" = old ]"
"$L" decrypt --key a.pem base -o out --force 2>err && cmp -s out p
check "--force replaces it" [ $? = 0 ]
mkfifo fifo && "$L" decrypt --key a.pem base -o fifo --force 2>err
check "--force never replaces a FIFO (exit 2, still a FIFO)" sh -c "[ $? = 2 ] && [ -p fifo ]"
rm -f fifo
rm -f out
"$L" encrypt --key a.pem --segment-size 1000 p -o out 2>err
check "encrypt: bad --segment-size is exit 2, no output" sh -c "[ $? = 2 ] && [ ! -e out ]"
"$L" encrypt --key a.pem /nonexistent -o out 2>err
check "encrypt: missing input leaves no output" sh -c "[ $? != 0 ] && [ ! -e out ]"
cp a.pem loose.pem && chmod 644 loose.pem
"$L" encrypt --key loose.pem p -o out 2>err
check "key file readable by others: exit 3" sh -c "[ $? = 3 ] && [ ! -e out ]"
mkfifo fifo
(head -c $((88 + SEG + 100)) base; sleep 3) > fifo &
feeder=$!
"$L" decrypt --key a.pem fifo -o out 2>err &
dec=$!
sleep 0.5
kill -TERM $dec
wait $dec
check "decrypt killed by SIGTERM leaves nothing" clean
kill $feeder 2>/dev/null
wait $feeder 2>/dev/null

# ---- key rotation ----
cp base r
"$L" key rotate --file r --old-key a.pem --new-key b.pem > out.txt 2>err
check "key rotate --file" [ $? = 0 ]
check "prints both key ids" grep -q "$ida -> $(ref keyid b.pem)" out.txt
check "rotated file decrypts with the new key (reference)" sh -c "$PY $REF decrypt --key b.pem r q && cmp -s q p"
rm -f q
expect_fail "rotated file refuses the old key" 3 r
check "only bytes 20..87 changed" bash -c "cmp -s <(head -c 20 r) <(head -c 20 base) && cmp -s <(tail -c +89 r) <(tail -c +89 base) && ! cmp -s <(head -c 88 r) <(head -c 88 base)"
cp r r0
"$L" key rotate --file r --old-key a.pem --new-key b.pem 2>err
check "rotate with the wrong old key: exit 3, file unchanged" sh -c "[ $? = 3 ] && cmp -s r r0"
"$L" key rotate inst_abc123 --old-key a.pem --new-key b.pem 2>err
check "instance rotation without a platform: exit 4, says so" sh -c "[ $? = 4 ] && grep -q 'no platform configured' err"
"$L" key rotate --file r --reencrypt --old-key a.pem --new-key b.pem 2>err
check "--reencrypt is refused for a file: exit 2, file unchanged" sh -c "[ $? = 2 ] && cmp -s r r0"
"$L" key rotate --old-key a.pem --new-key b.pem 2>err
check "rotate without --file or instance: exit 2" [ $? = 2 ]
"$L" key rotate --file r --old-key b.pem --new-key b.pem 2>err
check "rotate to the same key: exit 2, says so, file unchanged" \
	sh -c "[ $? = 2 ] && grep -q 'same key' err && cmp -s r r0"

# Crash recovery: a journal (DESIGN/docs/formats.md) beside the file, as a
# rotation interrupted after making it durable would leave.
journal() { # FILE OLD_HEADER_SOURCE NEW_HEADER_SOURCE [TRUNCATE]
	$PY - "$@" <<'EOF'
import hashlib, sys
old = open(sys.argv[2], 'rb').read(88); new = open(sys.argv[3], 'rb').read(88)
j = b"LMBDAEJ1" + old + new[20:88]
j += hashlib.sha256(j).digest()
if len(sys.argv) > 4:
    j = j[:int(sys.argv[4])]
open(sys.argv[1] + ".lambda-rotate", "wb").write(j)
EOF
}
cp base f && journal f base r
"$L" decrypt --key b.pem f -o out 2>err && cmp -s out p
check "decrypt completes an interrupted rotation, then opens with the new key" sh -c "[ $? = 0 ] && [ ! -e f.lambda-rotate ]"
rm -f out
cp base f && journal f base r && poke f 40 flip
"$L" key rotate --file f --old-key b.pem --new-key a.pem >/dev/null 2>err
check "rotate completes a torn header write from the journal, then rotates" sh -c "[ $? = 0 ] && [ ! -e f.lambda-rotate ] && $PY $REF decrypt --key a.pem f q && cmp -s q p"
rm -f q
cp base f && journal f base r 120
"$L" decrypt --key a.pem f -o out 2>err && cmp -s out p
check "an incomplete journal is dropped: the old key still opens it" sh -c "[ $? = 0 ] && [ ! -e f.lambda-rotate ]"
rm -f out
"$L" encrypt --key a.pem p -o g
cp base f && journal f g g
"$L" decrypt --key a.pem f -o out 2>err
check "a journal of another file is refused and kept" sh -c "[ $? = 1 ] && [ -e f.lambda-rotate ] && [ ! -e out ]"

echo "1..$n"
[ $failed = 0 ]
