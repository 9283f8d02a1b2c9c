#!/bin/bash
# lambda's handling of unusual input that needs no platform: help output,
# key file paths and kinds, measurement pins, interrupted encrypt/decrypt.
# TAP output; exit 77 to skip.
set -u

. "${LAMBDA_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
setup_env

# --help: the usage of every command is shown whole.
run "$LAMBDA" --help
check "top-level help shows up's options whole" out_has "[--trace-requests FILE]"

# Key files: a FIFO must not hang, a directory is no key (exit 2).
"$LAMBDA" key generate --name t --output k.pem >/dev/null 2>&1 || bail "key generate failed"
mkfifo fifo.pem
expect_rc 2 "a FIFO as key file is refused at once" timeout 10 "$LAMBDA" key show fifo.pem
check "and the message says it is not a regular file" err_has "not a regular file"
mkdir dir.pem
expect_rc 2 "a directory as key file is refused" "$LAMBDA" key show dir.pem
if [ "$(id -u)" = 0 ]; then
	cp k.pem nobody.pem && chown 65534 nobody.pem
	expect_rc 3 "a key file of another user is refused" "$LAMBDA" key show nobody.pem
	check "and the message names its owner" err_has "owned by uid 65534, not you"
fi

# key generate: output paths and names that cannot work are usage errors
# with a message that says why, before anything is written.
expect_rc 2 "key generate --output '' is a usage error" "$LAMBDA" key generate --name t --output ""
check "and says the file name is empty" err_has "empty"
expect_rc 2 "key generate --output - is refused" "$LAMBDA" key generate --name t --output -
check "and no file named '-' appears" test ! -e ./-
expect_rc 5 "key generate into a missing directory" "$LAMBDA" key generate --name t --output nodir/k.pem
check "and says the directory does not exist" err_has "nodir: no such directory"
expect_rc 2 "key generate with a bad name is a usage error" "$LAMBDA" key generate --name "$(printf 'a\tb')" --output k3.pem
check "and only the name is blamed" bash -c "! grep -q 'cannot write' '$T/out/last.err' && grep -q 'printable ASCII' '$T/out/last.err'"
check "and no file is written" test ! -e k3.pem
run "$LAMBDA" key generate --help
check "key generate --help lists exit status 5" out_has "5  the directory of FILE does not exist"

# verify: a measurement pin of the wrong size pins nothing: exit 2.
MK=$BUILD/tests/tools/make_sim_evidence
"$MK" --save-key sim.pem --nonce 0011 -o ev.json || bail "make_sim_evidence failed"
expect_rc 2 "verify --expect-measurement sha384:00 is refused" \
	"$LAMBDA" verify ev.json --allow-simulated-insecure --expect-measurement sha384:00
check "and the message names the expected size" err_has "48 bytes"
expect_rc 2 "verify --expect-measurement with 1 bare byte is refused" \
	"$LAMBDA" verify ev.json --allow-simulated-insecure --expect-measurement 00

# verify without --nonce proves no freshness and says so.
expect_rc 0 "verify without --nonce" "$LAMBDA" verify ev.json --allow-simulated-insecure
check "notes that freshness was not checked" out_has "freshness not checked: no --nonce given"
expect_rc 0 "verify with --nonce" "$LAMBDA" verify ev.json --allow-simulated-insecure --nonce 0011
check "has no such note" bash -c "! grep -q 'freshness not checked' '$T/out/last.out'"
run "$LAMBDA" verify ev.json --allow-simulated-insecure --json
check "--json without --nonce: freshness_checked false" \
	bash -c "jq -e '.freshness_checked == false' '$T/out/last.out' >/dev/null"
run "$LAMBDA" verify ev.json --allow-simulated-insecure --json --nonce 0011
check "--json with --nonce: freshness_checked true" \
	bash -c "jq -e '.freshness_checked == true' '$T/out/last.out' >/dev/null"

# encrypt/decrypt killed with -9 mid-run leave nothing in the directory:
# the output has no name until it is complete.
head -c 300000 /dev/urandom >plain.bin
"$LAMBDA" encrypt --key k.pem plain.bin -o enc.lmbd 2>/dev/null || bail "encrypt failed"
mkdir killed
# kill_mid DESC CMD...: feeds CMD part of its input, kills it with -9 while
# it waits for the rest, and lists what is left in killed/.
kill_mid() {
	local desc=$1 pid
	shift
	rm -rf killed/* killed/.[!.]* 2>/dev/null
	mkfifo killed.fifo
	"$@" <killed.fifo >/dev/null 2>&1 &
	pid=$!
	exec 9>killed.fifo
	head -c 200000 enc.lmbd >&9	# a part of the input; the rest never comes
	sleep 1
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	exec 9>&-
	rm -f killed.fifo
	check "$desc" test -z "$(ls -A killed)"
}
kill_mid "decrypt killed with -9 leaves no file" "$LAMBDA" decrypt --key k.pem - -o killed/plain.bin
kill_mid "encrypt killed with -9 leaves no file" "$LAMBDA" encrypt --key k.pem - -o killed/enc.lmbd
: >killed/plain.bin
kill_mid_force() {
	local pid
	mkfifo killed.fifo
	"$LAMBDA" decrypt --key k.pem --force - -o killed/plain.bin <killed.fifo >/dev/null 2>&1 &
	pid=$!
	exec 9>killed.fifo
	head -c 200000 enc.lmbd >&9
	sleep 1
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	exec 9>&-
	rm -f killed.fifo
}
kill_mid_force
check "decrypt --force killed with -9 leaves the old file alone" \
	test "$(ls -A killed)" = plain.bin -a ! -s killed/plain.bin
expect_rc 0 "decrypt --force replaces an existing file" \
	"$LAMBDA" decrypt --key k.pem --force enc.lmbd -o killed/plain.bin
check "with the plaintext" cmp -s plain.bin killed/plain.bin
check "and leaves no other file" test "$(ls -A killed)" = plain.bin
expect_rc 2 "decrypt without --force does not replace it" \
	"$LAMBDA" decrypt --key k.pem enc.lmbd -o killed/plain.bin
expect_rc 0 "decrypt to a new name" "$LAMBDA" decrypt --key k.pem enc.lmbd -o killed/p2.bin
check "gives the plaintext, mode 600" test "$(stat -c %a killed/p2.bin)" = 600

# Exit 5 of encrypt and decrypt is documented.
expect_rc 5 "encrypt of a missing input" "$LAMBDA" encrypt --key k.pem missing.bin -o x.lmbd
run "$LAMBDA" encrypt --help
check "encrypt --help documents exit status 5" out_has "5  IN, the key file or the directory of OUT does not exist"
run "$LAMBDA" decrypt --help
check "decrypt --help documents exit status 5" out_has "5  IN, the key file or the directory of OUT does not exist"

done_testing
