#!/bin/bash
# The operator is blind: a canary, random per run, goes into a workload's
# env and arguments and comes out of its stdout. Afterwards no file the
# platform wrote (database, agent state, volumes, logs, temp files,
# lambdad.log) and no request lambdad traced holds it in any form we can
# look for, while the customer's `lambda logs` shows it.
. "$(dirname "$0")/lib.sh"
setup_env
TRACE=$T/tmp/requests.trace
platform_up_traced "$TRACE"

canary=CANARY$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
run "$LAMBDA" key generate --name blind --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"

run "$LAMBDA" create instance --type compute-4x --region local --encryption-key key.pem \
	--timeout 60 --env "SECRET_CANARY=$canary" -- \
	/bin/sh -c 'echo "env:$SECRET_CANARY"; echo "arg:$1"; echo "$1" > /tmp/canary-file' sh "$canary"
id=$(head -n 1 "$T/out/last.out")
check "the workload was created" grep -qE '^inst_' "$T/out/last.out"
check "the workload finished" test "$(wait_final "$id")" = exited

expect_rc 0 "lambda logs decrypts" "$LAMBDA" logs "$id" --encryption-key key.pem
check "the customer sees the canary from the env" out_has "env:$canary"
check "the customer sees the canary from the arguments" out_has "arg:$canary"
cp "$T/out/last.out" "$T/out/customer-logs.txt"

# Forms an encoding slip could leave behind: plain, hex and base64.
hex=$(printf %s "$canary" | od -An -tx1 | tr -d ' \n')
b64=$(printf %s "$canary" | base64 -w0 | cut -c1-20)

platform_down
check "the request trace was written" test -s "$TRACE"
check "the trace holds the create request" grep -q "/v1/instances" "$TRACE"
check "the data dir holds the store" test -s "$DATA/lambda.db"
check "the data dir holds lambdad.log" test -s "$DATA/lambdad.log"
# The search itself works: it finds the canary where it belongs, in the
# customer's own decrypted output.
check "the search finds the canary in the customer's output" grep -r -a -q -F -- "$canary" "$T/out"

for where in "$DATA" "$TRACE" "$T/tmp" "$T/run" "$T/cache"; do
	[ -e "$where" ] || continue
	for form in "$canary" "$hex" "$b64"; do
		if grep -r -a -l -F -- "$form" "$where" >"$T/out/hits" 2>/dev/null; then
			not_ok "no trace of the canary ($form) under $where"
			diag "$T/out/hits"
		else
			ok "no trace of the canary (${form:0:12}...) under ${where#$T/}"
		fi
	done
	if find "$where" 2>/dev/null | grep -qF -- "$canary"; then
		not_ok "no file name under ${where#$T/} holds the canary"
	else
		ok "no file name under ${where#$T/} holds the canary"
	fi
done
# The workload's /tmp is a private tmpfs: its file must not be on the host.
check "the workload's /tmp file is not on the host" \
	sh -c "! find '$T' /tmp /var/tmp /run -name canary-file 2>/dev/null | grep -q ."

done_testing
