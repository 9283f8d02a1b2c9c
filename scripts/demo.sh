#!/bin/bash
# The main flow of lambda on a throw-away single-node platform, one step at
# a time with the command shown: key, up, create an instance with a real
# workload, list, get, decrypted logs, attestation saved and verified (and
# refused once tampered with), delete, the audit log, down. Everything lives
# in a temporary directory with its own HOME and XDG dirs; a trap always
# stops the platform and removes the directory. Exits non-zero on any
# unexpected result. Usage: scripts/demo.sh BUILD_DIR
set -u

[ $# = 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
LAMBDA=$BUILD/cli/lambda
[ -x "$LAMBDA" ] || { echo "demo: $LAMBDA not built (make build)" >&2; exit 2; }

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/lambda-demo.XXXXXX") || exit 1
cleanup() {
	status=$?
	"$LAMBDA" down >/dev/null 2>&1
	rm -rf "$DEMO"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$DEMO/home" "$DEMO/config" "$DEMO/data" "$DEMO/cache" "$DEMO/run" "$DEMO/tmp" "$DEMO/work"
chmod 700 "$DEMO/run"
export HOME=$DEMO/home XDG_CONFIG_HOME=$DEMO/config XDG_DATA_HOME=$DEMO/data XDG_CACHE_HOME=$DEMO/cache
export XDG_RUNTIME_DIR=$DEMO/run TMPDIR=$DEMO/tmp
unset LAMBDA_CONFIG
cd "$DEMO/work" || exit 1
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PATH=$BUILD/cli:$PATH

if [ -t 1 ]; then B=$(printf '\033[1m') N=$(printf '\033[0m'); else B= N=; fi
n=0
step() {
	n=$((n + 1))
	printf '\n%s== %d. %s%s\n' "$B" "$n" "$1" "$N"
}
show() {
	printf '$'
	printf ' %q' "$@"
	printf '\n'
}
fail() {
	echo "demo: UNEXPECTED: $*" >&2
	exit 1
}
# do CMD...: shows and runs CMD; any failure ends the demo.
do_() {
	show "$@"
	"$@" || fail "'$*' exited $?"
}
# expect_fail CODE CMD...: shows CMD and requires it to fail with CODE.
expect_fail() {
	local want=$1 rc
	shift
	show "$@"
	"$@"
	rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want"
	echo "(exit $rc, as expected)"
}

step "Make a customer master key; it never leaves this machine"
do_ lambda key generate --name demo --output key.pem
do_ lambda key show key.pem

step "Start a single-node platform (control plane and agent, SQLite store)"
do_ lambda up --data-dir "$DEMO/data/lambda" --listen "127.0.0.1:$PORT"

step "Create an instance: env and arguments travel only inside the sealed key release"
# This machine has no TEE: `lambda up` marked the local platform as simulated,
# so its evidence is accepted, with a warning on every create.
cmd=(lambda create instance --type compute-4x --region local --encryption-key key.pem
	--volume-size 64M --env "GREETING=Hello from a blind platform" --
	/bin/sh -c 'echo "$GREETING from $(hostname)"; ls /; sha256sum /etc/os-release')
show "${cmd[@]}"
id=$("${cmd[@]}") || fail "create instance exited $?"
echo "$id"
[[ $id == inst_* ]] || fail "create instance printed '$id'"

for _ in $(seq 1 150); do
	st=$(lambda get instance "$id" | awk '$1 == "status" { print $2 }')
	case $st in exited|failed) break ;; esac
	sleep 0.2
done
[ "$st" = exited ] || fail "$id ended '$st', expected exited"

step "List and show instances: the platform knows metadata only"
do_ lambda list instances
do_ lambda get instance "$id"

step "Read the logs: stored encrypted, decrypted here with the master key"
show lambda logs "$id" --encryption-key key.pem
logs=$(lambda logs "$id" --encryption-key key.pem) || fail "logs exited $?"
printf '%s\n' "$logs"
grep -q "Hello from a blind platform" <<<"$logs" || fail "the logs lack the greeting"

step "Fetch fresh attestation evidence and verify it offline"
do_ lambda attest "$id" --output evidence.json
measurement=$(jq -r .measurement evidence.json)
[ -n "$measurement" ] || fail "no measurement in evidence.json"
do_ lambda verify evidence.json --allow-simulated-insecure --expect-measurement "$measurement"

step "Tamper with a copy of the evidence: verification fails"
printf '$ %s\n' "jq '.measurement |= (one hex digit changed)' evidence.json > tampered.json"
jq '.measurement |= (.[0:7] + (if .[7:8] == "0" then "1" else "0" end) + .[8:])' evidence.json >tampered.json
cmp -s evidence.json tampered.json && fail "the tampered copy is unchanged"
expect_fail 1 lambda verify tampered.json --allow-simulated-insecure --expect-measurement "$measurement"

step "Delete the instance"
do_ lambda delete instance "$id"

step "The audit log records every action; verify its hash chain and signed checkpoint"
do_ lambda audit list
do_ lambda audit verify

step "Stop the platform"
do_ lambda down

printf '\n%sdemo finished: every step gave the expected result%s\n' "$B" "$N"
