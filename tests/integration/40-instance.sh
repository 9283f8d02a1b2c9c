#!/bin/bash
# The main flow end to end on a single-node platform: key, up, create with
# env and arguments, statuses and exit codes, decrypted logs, attestation
# saved and verified (and refused when tampered with), key mistakes,
# tenant isolation, delete, and a platform that is down.
. "$(dirname "$0")/lib.sh"
setup_env
platform_up

run "$LAMBDA" key generate --name it-key --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"
key_id=$(grep -o 'lmk_[0-9a-f]\{16\}' key.pem | head -n 1)
run "$LAMBDA" key generate --name other-key --output other.pem
[ "$rc" = 0 ] || bail "key generate (second key) failed"
other_id=$(grep -o 'lmk_[0-9a-f]\{16\}' other.pem | head -n 1)
check "key ids are known" test -n "$key_id" -a -n "$other_id" -a "$key_id" != "$other_id"

create() {
	run "$LAMBDA" create instance --type compute-4x --region local --encryption-key key.pem \
		--timeout 60 "$@"
}

# 1. A workload that exits 0, with env and arguments only the guest sees.
create --env GREETING=hello-it --volume-size 64M -- /bin/sh -c \
	'echo "$GREETING from $(hostname)"; echo to-stderr >&2; ls / >/dev/null; sha256sum /etc/os-release'
check "create prints an instance id" grep -qE '^inst_[0-9a-f]+$' "$T/out/last.out"
check "create shows the attestation checks" err_has "nonce binding"
check "create warns about simulated attestation" err_has "simulated attestation: no hardware protection"
id1=$(head -n 1 "$T/out/last.out")
[ -n "$id1" ] || bail "no instance created"
check "instance that exits 0 ends exited" test "$(wait_final "$id1")" = exited
check "its exit code is 0" test "$(field_of "$id1" exit_code)" = 0
check "its guest left no run directory" test ! -e "/run/lambda-guest/$id1"

# A configuration that does not mark the platform as simulated refuses its
# evidence: nothing is released, and the instance never runs.
(umask 077 && jq '.allow_simulated_insecure = false' "$XDG_CONFIG_HOME/lambda/config.json" \
	>"$T/out/strict-config.json")
LAMBDA_CONFIG=$T/out/strict-config.json create -- /bin/true
check "a strict configuration refuses simulated evidence (exit 1)" test "$rc" = 1
check "the refusal names the platform check" err_has "simulated"

expect_rc 0 "get instance" "$LAMBDA" get instance "$id1"
check "get shows the key id" out_has "$key_id"
expect_rc 0 "get instance --json" "$LAMBDA" get instance "$id1" --json
check "get --json carries the status" grep -q '"status": "exited"' "$T/out/last.out"
expect_rc 0 "list instances" "$LAMBDA" list instances
check "list has the table header" grep -qE '^ID +TYPE +REGION +STATUS +EXIT +CREATED' "$T/out/last.out"
check "list shows the instance" out_has "$id1"

expect_rc 0 "logs decrypt" "$LAMBDA" logs "$id1" --encryption-key key.pem
check "stdout records reach stdout" out_has "hello-it from "
check "the workload's hash line is there" grep -qE '^[0-9a-f]{64}  /etc/os-release$' "$T/out/last.out"
check "stderr records reach stderr" err_has "to-stderr"
check "stderr records stay off stdout" sh -c "! grep -q to-stderr '$T/out/last.out'"
expect_rc 0 "logs --json" "$LAMBDA" logs "$id1" --encryption-key key.pem --json
check "logs --json has both streams" sh -c "grep -q '\"stream\": \"stderr\"' '$T/out/last.out' &&
	grep -q '\"stream\": \"stdout\"' '$T/out/last.out'"

# 2. Exit status 7, and a workload killed by a signal.
create -- /bin/sh -c 'exit 7'
id7=$(head -n 1 "$T/out/last.out")
check "workload exiting 7 ends failed" test "$(wait_final "$id7")" = failed
check "its exit code is 7" test "$(field_of "$id7" exit_code)" = 7
create -- /bin/sh -c 'kill -9 $$'
id9=$(head -n 1 "$T/out/last.out")
check "workload killed by a signal ends failed" test "$(wait_final "$id9")" = failed

# 3. Key mistakes.
expect_rc 3 "logs with another key" "$LAMBDA" logs "$id1" --encryption-key other.pem
check "the message names the key needed" err_has "$id1 is under key $key_id; other.pem is $other_id"
cp key.pem loose.pem
chmod 644 loose.pem
expect_rc 3 "create with a key file others can read" "$LAMBDA" create instance --type compute-4x \
	--region local --encryption-key loose.pem -- /bin/true
check "the message says how to fix it" err_has "chmod 600 loose.pem"
expect_rc 3 "logs with a key file others can read" "$LAMBDA" logs "$id1" --encryption-key loose.pem

# 4. Attestation: saved, verified, and refused when damaged.
expect_rc 0 "attest" "$LAMBDA" attest "$id1" --output a.json
nonce=$(awk '$1 == "nonce:" { print $2 }' "$T/out/last.out")
check "attest prints the nonce" test ${#nonce} = 64
check "the document carries that nonce" grep -q "\"nonce\": \"$nonce\"" a.json
expect_rc 2 "attest refuses to overwrite" "$LAMBDA" attest "$id1" --output a.json
expect_rc 0 "attest --output - writes the document to stdout" "$LAMBDA" attest "$id1" --output -
check "... a whole evidence document, and no file named -" \
	bash -c '[ "$(jq -r .instance_id "$1")" = "$2" ] && [ ! -e ./- ] && grep -q "^nonce: " "$3"' \
	_ "$T/out/last.out" "$id1" "$T/out/last.err"
measurement=$(jq -r .measurement a.json)
expect_rc 0 "verify" "$LAMBDA" verify a.json --allow-simulated-insecure --expect-measurement "$measurement" \
	--nonce "$nonce"
expect_rc 1 "verify without --allow-simulated-insecure" "$LAMBDA" verify a.json
expect_rc 1 "verify against another measurement" "$LAMBDA" verify a.json --allow-simulated-insecure \
	--expect-measurement "sha384:$(printf '%096d' 0)"
jq --arg m "sha384:$(printf '%096d' 1)" '.measurement = $m' a.json >tampered.json
expect_rc 1 "verify a document with a tampered measurement" "$LAMBDA" verify tampered.json \
	--allow-simulated-insecure
head -c 200 a.json >truncated.json
expect_rc 2 "verify truncated evidence" "$LAMBDA" verify truncated.json --allow-simulated-insecure
sed 's/"evidence": "/"evidence": "!!/' a.json >corrupt.json
expect_rc 2 "verify corrupted evidence" "$LAMBDA" verify corrupt.json --allow-simulated-insecure
expect_rc 1 "create refuses a launch with another measurement" "$LAMBDA" create instance --type compute-4x \
	--region local --encryption-key key.pem --allow-simulated-insecure --timeout 60 \
	--expect-measurement "sha384:$(printf '%096d' 0)" -- /bin/true
check "nothing was released" err_has "no key released"
refused=$(grep -o 'inst_[0-9a-f]*' "$T/out/last.err" | head -n 1)
check "the refused instance still waits for its key" test "$(status_of "$refused")" = awaiting_key

# 4b. GET ?wait= (docs/api.md): held until the status changes, or the timeout.
api() { # api QUERY -> body, then the HTTP status on the last line
	curl -s -w '\n%{http_code}' --cacert "$(jq -r .ca_file "$XDG_CONFIG_HOME/lambda/config.json")" \
		-H "Authorization: Bearer $(jq -r .token "$XDG_CONFIG_HOME/lambda/config.json")" \
		"$(jq -r .endpoint "$XDG_CONFIG_HOME/lambda/config.json")/v1/instances/$refused$1"
}
t0=$(date +%s%N)
api '?wait=awaiting_key' >wait1.out
t1=$(date +%s%N)
check "wait for the current status answers at once" sh -c "[ $(( (t1 - t0) / 1000000 )) -lt 900 ] &&
	tail -n 1 wait1.out | grep -qx 200 && grep -q '\"status\":\"awaiting_key\"' wait1.out"
t0=$(date +%s%N)
api '?wait=running&timeout=1' >wait2.out
t1=$(date +%s%N)
check "wait for another status is held until the timeout" sh -c "[ $(( (t1 - t0) / 1000000 )) -ge 900 ] &&
	tail -n 1 wait2.out | grep -qx 200 && grep -q '\"status\":\"awaiting_key\"' wait2.out"
check "an unknown status in wait is refused (400)" test "$(api '?wait=runing' | tail -n 1)" = 400
check "a timeout over 60 s is refused (400)" test "$(api '?wait=running&timeout=61' | tail -n 1)" = 400
api '?wait=running&timeout=30' >wait3.out &
waiter=$!
sleep 0.5
t0=$(date +%s%N)
run "$LAMBDA" delete instance "$refused"
wait "$waiter"
t1=$(date +%s%N)
check "deleting the instance answers a held wait with 404" sh -c "[ $(( (t1 - t0) / 1000000 )) -lt 5000 ] &&
	tail -n 1 wait3.out | grep -qx 404"

# 5. Another tenant sees nothing of ours.
run "$LAMBDA" tenant create other-tenant
token=$(grep -o 'lmt_[0-9a-f]*_[0-9a-f]*' "$T/out/last.out" | head -n 1)
check "tenant create issues a token" test -n "$token"
(umask 077 && jq --arg t "$token" '.token = $t' "$XDG_CONFIG_HOME/lambda/config.json" >"$T/out/other-config.json")
export LAMBDA_CONFIG=$T/out/other-config.json
expect_rc 5 "the other tenant gets 404 on our instance" "$LAMBDA" get instance "$id1"
expect_rc 0 "the other tenant lists instances" "$LAMBDA" list instances
check "and does not see ours" sh -c "[ $rc = 0 ] && ! grep -q '$id1' '$T/out/last.out'"
expect_rc 5 "the other tenant cannot delete it" "$LAMBDA" delete instance "$id1"
unset LAMBDA_CONFIG

# 6. Delete.
expect_rc 0 "delete instance" "$LAMBDA" delete instance "$id1"
expect_rc 5 "a deleted instance is gone" "$LAMBDA" get instance "$id1"
expect_rc 0 "list after delete" "$LAMBDA" list instances
check "the list no longer shows it" sh -c "[ $rc = 0 ] && ! grep -q '$id1' '$T/out/last.out'"
expect_rc 5 "deleting it again" "$LAMBDA" delete instance "$id1"
expect_rc 2 "a malformed id is refused" "$LAMBDA" get instance '../../etc'

# 7. The platform is down.
platform_down
expect_rc 4 "create when the platform is down" "$LAMBDA" create instance --type compute-4x \
	--region local --encryption-key key.pem -- /bin/true
check "the message says the platform is not reachable" err_has "not reachable"

done_testing
