# Shared helpers of the integration tests (sourced, bash): TAP output, a
# private temp dir with its own HOME and XDG dirs, a free port, and a
# single-node platform that is always stopped again by the EXIT trap.
#
# Environment: LAMBDA_BUILD_DIR (set by meson; default ./build).

BUILD=${LAMBDA_BUILD_DIR:-$(pwd)/build}
LAMBDA=$BUILD/cli/lambda
LAMBDAD=$BUILD/daemon/lambdad

t_num=0
t_failed=0

ok() {
	t_num=$((t_num + 1))
	echo "ok $t_num - $*"
}

not_ok() {
	t_num=$((t_num + 1))
	t_failed=$((t_failed + 1))
	echo "not ok $t_num - $*"
}

diag() {
	sed 's/^/# /' "$@"
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

bail() {
	echo "Bail out! $*"
	[ -f "$T/out/last.err" ] && diag "$T/out/last.err"
	exit 1
}

done_testing() {
	echo "1..$t_num"
	[ "$t_failed" = 0 ] || { echo "# $t_failed of $t_num failed"; exit 1; }
	exit 0
}

# check DESC CONDITION...: runs CONDITION, reports ok or not ok.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# run CMD...: runs CMD with stdout in $T/out/last.out and stderr in
# $T/out/last.err; its exit status in $rc.
run() {
	"$@" >"$T/out/last.out" 2>"$T/out/last.err"
	rc=$?
}

# expect_rc CODE DESC CMD...: runs CMD, checks its exit status.
expect_rc() {
	local want=$1 desc=$2
	shift 2
	run "$@"
	if [ "$rc" = "$want" ]; then
		ok "$desc (exit $rc)"
	else
		not_ok "$desc (exit $rc, expected $want)"
		diag "$T/out/last.out"
		diag "$T/out/last.err"
	fi
}

# out_has PATTERN / err_has PATTERN: fixed-string search in the last run.
out_has() { grep -qF -- "$1" "$T/out/last.out"; }
err_has() { grep -qF -- "$1" "$T/out/last.err"; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# setup_env: the temp dir and the environment every lambda program of the
# test sees. Nothing of the user's HOME or config is touched.
setup_env() {
	[ -x "$LAMBDA" ] || skip_all "lambda not built at $LAMBDA"
	T=$(mktemp -d "${TMPDIR:-/tmp}/lambda-it.XXXXXX") || exit 1
	mkdir -p "$T/home" "$T/config" "$T/data" "$T/cache" "$T/run" "$T/tmp" "$T/out" "$T/work"
	chmod 700 "$T/run"
	export HOME=$T/home XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache
	export XDG_RUNTIME_DIR=$T/run TMPDIR=$T/tmp
	unset LAMBDA_CONFIG NO_COLOR
	DATA=$T/data/lambda
	PORT=$(free_port)
	trap teardown EXIT
	cd "$T/work" || exit 1
}

teardown() {
	local status=$?
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		"$LAMBDA" down >/dev/null 2>&1
		rm -rf "$T"
	fi
	exit $status
}

# platform_up [lambda up options...]: starts lambdad and the agent with the
# data dir and port of this test.
platform_up() {
	run "$LAMBDA" up --data-dir "$DATA" --listen "127.0.0.1:$PORT" "$@"
	if [ "$rc" != 0 ]; then
		diag "$T/out/last.err"
		bail "lambda up failed (exit $rc)"
	fi
}

# platform_up_traced FILE: as platform_up, with every request body lambdad
# receives appended to FILE.
platform_up_traced() {
	platform_up --trace-requests "$1"
}

platform_down() {
	run "$LAMBDA" down
}

# status_of ID: the instance's status from "lambda get instance".
status_of() {
	"$LAMBDA" get instance "$1" 2>/dev/null | awk '$1 == "status" { print $2 }'
}

field_of() {
	"$LAMBDA" get instance "$1" 2>/dev/null | awk -v f="$2" '$1 == f { print $2 }'
}

# wait_final ID [SECONDS]: waits until the instance exited or failed and
# prints that status.
wait_final() {
	local id=$1 n=$((${2:-60} * 5)) st=
	while [ "$n" -gt 0 ]; do
		st=$(status_of "$id")
		case $st in exited|failed|deleted) break ;; esac
		sleep 0.2
		n=$((n - 1))
	done
	echo "$st"
}
