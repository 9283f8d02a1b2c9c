#!/bin/bash
# Every benchmark of docs/benchmarks.md, one after the other, on this
# machine: encrypted files, attestation verification (needs the vectors of
# ../shared, else skipped), user-space volumes, the platform. Each prints
# its own figures; run on a quiet machine, as root.
# Usage: bench/run.sh [BUILD_DIR]   (default build)
set -u
build=${1:-build}
here=$(dirname "$0")
shared=${LAMBDA_SHARED:-$here/../../shared}
failed=0

run() {
	echo "== $*"
	"$@" || { echo "== failed: $*" >&2; failed=1; }
}

run "$here/fileenc.sh" "$build"
if [ -d "$shared/vectors" ]; then
	LAMBDA_SHARED=$shared BUILD=$build run "$here/verify.sh"
else
	echo "== verify.sh skipped: no $shared/vectors"
fi
run "$here/volume.sh" "$build"
run "$here/platform.sh" "$build"
exit $failed
