#!/bin/bash
# The control plane's limits and refusals: methods, request validation,
# regions, per-tenant quotas, audit rate limits, connection caps and
# timeouts, a broken audit log, and what `lambda up` refuses before it
# creates any state. TAP output.
set -u
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip_all "curl not installed"
setup_env

URL=https://127.0.0.1:$PORT
CA=$DATA/ca.pem

# req METHOD PATH [TOKEN] [BODY]: prints the body, then the status on the last line.
req() {
	local args=(-s --cacert "$CA" -X "$1" -w '\n%{http_code}')
	[ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
	[ "$#" -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	curl "${args[@]}" "$URL$2"
}
code() { tail -n 1; }
body() { head -n 1; }

# ---- lambda up: bad options create nothing ----
for bad in 127.0.0.1:99999 garbage 127.0.0.1: :80; do
	expect_rc 2 "lambda up --listen $bad is a usage error" \
		"$LAMBDA" up --data-dir "$T/bad" --listen "$bad"
	check "... and creates no state" test ! -e "$T/bad"
done
BUSY=$(free_port)
python3 -c 'import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$BUSY" &
holder=$!
sleep 0.5
expect_rc 4 "lambda up on a port in use exits 4" "$LAMBDA" up --data-dir "$T/busy" --listen "127.0.0.1:$BUSY"
check "... says the address is in use" err_has "in use"
check "... and creates no state on a first start" test ! -e "$T/busy"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect_rc 2 "lambda up --data-dir '' is refused" "$LAMBDA" up --data-dir "" --listen "127.0.0.1:$PORT"
check "... and the current directory is not taken over" test ! -e "$T/work/ca.pem"
mkdir -p "$T/other" && echo keep >"$T/other/notes.txt"
expect_rc 2 "lambda up refuses a non-empty directory that is no data dir" \
	"$LAMBDA" up --data-dir "$T/other" --listen "127.0.0.1:$PORT"
check "... and leaves it alone" test "$(ls -A "$T/other")" = notes.txt -a "$(stat -c %a "$T/other")" != 700

expect_rc 2 "lambdad --listen garbage is a usage error" "$LAMBDAD" --data-dir "$T/bad" --listen garbage
check "... and creates no state" test ! -e "$T/bad"
expect_rc 0 "lambda up --listen 0.0.0.0:PORT starts" \
	"$LAMBDA" up --data-dir "$T/wide" --listen "0.0.0.0:$PORT"
check "... with a warning that the API is exposed" err_has "not a loopback address"
"$LAMBDA" down --data-dir "$T/wide" >/dev/null 2>&1

platform_up
ADMIN=$(cat "$DATA/admin.token")

# ---- methods ----
for m in PATCH OPTIONS TRACE; do
	out=$(req "$m" /v1/instances "$ADMIN")
	check "$m answers the JSON 405" \
		test "$(code <<<"$out")" = 405 -a "$(body <<<"$out" | grep -c '"code":"method_not_allowed"')" = 1
done

# ---- request validation: refused before anything is created ----
count_instances() { req GET /v1/instances "$ADMIN" | body | grep -o '"id":"inst_' | wc -l; }
before=$(count_instances)
msg() { body | grep -o '"message":"[^"]*"' | cut -d'"' -f4; }
out=$(req POST /v1/instances "$ADMIN" '{"type":"bogus","region":"local"}')
check "an unknown type is refused with 400" test "$(code <<<"$out")" = 400
check "... naming the known types" grep -q "unknown instance type 'bogus': one of compute-1x" <<<"$(msg <<<"$out")"
out=$(req POST /v1/instances "$ADMIN" '{"type":"compute-1x","region":"nowhere"}')
check "a region the node does not serve is refused with 400" test "$(code <<<"$out")" = 400
check "... naming the region served" \
	test "$(msg <<<"$out")" = "region nowhere is not served here; this platform serves local"
out=$(req POST /v1/instances "$ADMIN" '{"type":1,"region":"local"}')
check "a type that is no string: says so" \
	test "$(code <<<"$out") $(msg <<<"$out")" = "400 bad value of 'type': must be a string"
out=$(req POST /v1/instances "$ADMIN" '{"type":"compute-1x","region":"local","volume_size":1099511627776}')
check "a volume over the maximum: 400 naming the range" \
	test "$(code <<<"$out") $(msg <<<"$out")" = \
	"400 bad value of 'volume_size': bytes from 33554432 (32 MiB) to 68719476736 (65536 MiB)"
out=$(req POST /v1/instances "$ADMIN" '{"type":"compute-1x","region":"local","volume_size":1024}')
check "a volume under the minimum: 400 naming the range" grep -q "bytes from 33554432" <<<"$(msg <<<"$out")"
out=$(req POST /v1/instances "$ADMIN" '')
check "an empty body: 400 asking for a JSON object" \
	test "$(code <<<"$out") $(msg <<<"$out")" = "400 the body is empty: send a JSON object"
check "none of the refused requests created an instance" test "$(count_instances)" = "$before"

# ---- connections: idle timeout and a cap ----
CPORT=$(free_port)
"$LAMBDAD" --data-dir "$T/conn" --listen "127.0.0.1:$CPORT" --max-connections 5 --idle-timeout 2 \
	2>"$T/out/cd.err" &
cpid=$!
for _ in $(seq 50); do curl -s --cacert "$T/conn/ca.pem" "https://127.0.0.1:$CPORT/v1/health" >/dev/null &&
	break; sleep 0.1; done
idle=$(python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(20); t = time.time()
try:
    s.recv(1)
except OSError:
    pass
print(int(time.time() - t))' "$CPORT")
check "a silent connection (no TLS handshake) is closed after --idle-timeout ($idle s)" test "$idle" -le 4
python3 -c 'import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(40)]
time.sleep(8)' "$CPORT" &
hog=$!
sleep 0.5
check "with 40 idle connections over a cap of 5, health still answers" \
	curl -s --max-time 8 --cacert "$T/conn/ca.pem" "https://127.0.0.1:$CPORT/v1/health" -o /dev/null
kill "$hog" 2>/dev/null
wait "$hog" 2>/dev/null
check "the cap is logged once for the burst" \
	test "$(grep -c 'the limit (--max-connections)' "$T/conn/lambdad.log")" = 1
check "lambdad holds no more than the cap of client sockets" \
	test "$(ls -l /proc/"$cpid"/fd | grep -c socket)" -le 12
kill "$cpid" && wait "$cpid"

# ---- auth.refused is rate-limited, and no refusal is lost ----
# refused: "ROWS SUM" of the auth.refused rows (a row without count is one).
refused() {
	req GET /v1/audit "$ADMIN" | body | python3 -c 'import json, sys
ev = [e for e in json.load(sys.stdin)["events"] if e["event_type"] == "auth.refused"]
print(len(ev), sum(e["metadata"].get("count", 1) for e in ev))'
}
read -r rows0 sum0 <<<"$(refused)"
for i in $(seq 20); do req GET /v1/instances "lmt_bad$i" >/dev/null; done
sleep 1.5
read -r rows1 sum1 <<<"$(refused)"
check "20 refusals within a second make at most 3 audit rows" test $((rows1 - rows0)) -le 3
check "... whose counts add up to 20" test $((sum1 - sum0)) = 20

# ---- quotas: a second lambdad with small limits ----
QPORT=$(free_port)
QDIR=$T/quota
"$LAMBDAD" --data-dir "$QDIR" --listen "127.0.0.1:$QPORT" --guest "$BUILD/guest/lambda-guest" \
	--max-instances 2 --max-volume-size 67108864 2>"$T/out/qd.err" &
qpid=$!
for _ in $(seq 50); do [ -f "$QDIR/admin.token" ] && curl -s --cacert "$QDIR/ca.pem" \
	"https://127.0.0.1:$QPORT/v1/health" >/dev/null && break; sleep 0.1; done
qreq() { URL=https://127.0.0.1:$QPORT CA=$QDIR/ca.pem req "$@"; }
QADMIN=$(cat "$QDIR/admin.token")
out=$(qreq POST /v1/instances "$QADMIN" '{"type":"compute-1x","region":"local","volume_size":134217728}')
check "--max-volume-size bounds volume_size" \
	test "$(code <<<"$out") $(msg <<<"$out")" = \
	"400 bad value of 'volume_size': bytes from 33554432 (32 MiB) to 67108864 (64 MiB)"
codes=
for _ in 1 2 3; do
	out=$(qreq POST /v1/instances "$QADMIN" '{"type":"compute-1x","region":"local"}')
	codes="$codes $(code <<<"$out")"
done
check "--max-instances 2: the third instance is refused with 409" test "$codes" = " 201 201 409"
check "... saying why" grep -q "the most this platform allows: delete one first" <<<"$(msg <<<"$out")"
first=$(qreq GET /v1/instances "$QADMIN" | body | grep -o '"id":"inst_[0-9a-f]*"' | head -n 1 | cut -d'"' -f4)
qreq DELETE "/v1/instances/$first" "$QADMIN" >/dev/null
out=$(qreq POST /v1/instances "$QADMIN" '{"type":"compute-1x","region":"local"}')
check "deleted instances do not count" test "$(code <<<"$out")" = 201
kill "$qpid" && wait "$qpid"
expect_rc 2 "lambdad refuses --max-instances 0" "$LAMBDAD" --data-dir "$T/q2" --max-instances 0
expect_rc 2 "lambdad refuses --max-volume-size under 32 MiB" "$LAMBDAD" --data-dir "$T/q2" --max-volume-size 1000

# ---- statuses are true after lambdad was killed ----
out=$(req POST /v1/instances "$ADMIN" '{"type":"compute-1x","region":"local"}')
RID=$(body <<<"$out" | grep -o '"id":"inst_[0-9a-f]*"' | cut -d'"' -f4)
for _ in $(seq 50); do [ "$(status_of "$RID")" = awaiting_key ] && break; sleep 0.1; done
check "an instance awaits its key" test "$(status_of "$RID")" = awaiting_key
kill -9 "$(cat "$DATA/lambdad.pid")"
for _ in $(seq 50); do flock -n "$DATA/lambdad.lock" true && break; sleep 0.1; done
platform_up
check "after kill -9 and lambda up, it is failed" test "$(status_of "$RID")" = failed
out=$(req GET "/v1/instances/$RID/attestation?nonce=$(printf '00%.0s' {1..16})" "$ADMIN")
check "attesting it: 409" test "$(code <<<"$out")" = 409
check "... saying it has no running guest and how to start it" \
	test "$(msg <<<"$out")" = "$RID has no running guest (status failed): start it with 'lambda start instance $RID ...'"
check "the audit log records why it failed" \
	grep -q '"reason":"lambdad restarted"' <<<"$(req GET /v1/audit "$ADMIN" | body)"

# ---- a broken audit log stops changes before they are made (last: it
# leaves this platform read-only) ----
sqlite3 "$DATA/lambda.db" "DELETE FROM audit_checkpoint"
expect_rc 4 "lambda tenant create with the checkpoint deleted fails" "$LAMBDA" tenant create unaudited
check "... and names the audit log" err_has "audit log broken"
check "... and the tenant was not created" \
	test "$(sqlite3 "$DATA/lambda.db" "SELECT count(*) FROM tenants WHERE name = 'unaudited'")" = 0
out=$(req GET /v1/health)
check "reads are still served" test "$(code <<<"$out")" = 200

done_testing
