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

done_testing
