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

done_testing
