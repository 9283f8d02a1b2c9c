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

done_testing
