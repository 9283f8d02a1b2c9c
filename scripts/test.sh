#!/bin/sh
# Builds lambda twice, plainly and under ASan+UBSan, runs every test suite
# (unit, fuzz corpus replay, integration) in both builds, checks that the
# libFuzzer build of `make fuzz` compiles (without TEST_ARGS) and ends with the
# summary line "N passed, N failed, N skipped". Exits non-zero when a test
# failed. Usage: scripts/test.sh [meson test arguments, e.g. --suite unit]
set -u
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
run_build() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
			cat "$dir.setup.log"
			failed=$((failed + 1))
			return
		}
	fi
	if ! meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
		cat "$dir.compile.log"
		failed=$((failed + 1))
		return
	fi
	rm -f "$dir/meson-logs/testlog.json"
	echo "== tests in $dir"
	meson test -C "$dir" --no-rebuild --print-errorlogs $TEST_ARGS
	log="$dir/meson-logs/testlog.json"
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	ok=$(grep -c '"result": "OK"' "$log")
	sk=$(grep -c '"result": "SKIP"' "$log")
	bad=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log")
	passed=$((passed + ok)) skipped=$((skipped + sk)) failed=$((failed + bad))
}

# The libFuzzer build of `make fuzz` (clang, whose warnings differ from
# gcc's): it must keep compiling, so building it counts as one test.
fuzz_build() {
	dir=build-fuzz
	echo "== libFuzzer build in $dir (clang)"
	if { [ -f "$dir/build.ninja" ] || CC=clang meson setup "$dir" -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false >"$dir.setup.log" 2>&1; } &&
		meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
		passed=$((passed + 1))
	else
		cat "$dir.setup.log" "$dir.compile.log" 2>/dev/null | tail -n 40
		echo "the libFuzzer build failed"
		failed=$((failed + 1))
	fi
}

TEST_ARGS="$*"
run_build build
# detect_leaks stays on; abort_on_error makes a sanitizer report fail the test.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
[ -z "$TEST_ARGS" ] && fuzz_build

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
