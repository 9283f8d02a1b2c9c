#!/bin/bash
# lambda logs proves order and, for a finished instance, completeness: one
# seq across stdout and stderr from 0 without gaps, and an end record last.
# Records are reordered, dropped and removed here in the agent's logs.enc,
# as whoever stores them could.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
setup_env
platform_up

run "$LAMBDA" key generate --name it-key --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"
run "$LAMBDA" create instance --type compute-4x --region local --encryption-key key.pem --timeout 60 \
	-- /bin/sh -c 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three'
id=$(head -n 1 "$T/out/last.out")
[ -n "$id" ] || bail "no instance created"
check "the instance exits" test "$(wait_final "$id")" = exited
LOGS=$(find "$DATA" -path "*$id*" -name logs.enc | head -n 1)
[ -n "$LOGS" ] || bail "no logs.enc for $id under $DATA"
cp "$LOGS" "$T/out/logs.orig"

expect_rc 0 "logs of an intact log" "$LAMBDA" logs "$id" --encryption-key key.pem
check "all lines are there" bash -c "grep -q one '$T/out/last.out' && grep -q three '$T/out/last.out' &&
	grep -q two '$T/out/last.err'"
expect_rc 0 "logs --json" "$LAMBDA" logs "$id" --encryption-key key.pem --json
check "the last record is the end record with exit code 0" \
	bash -c "jq -e '.[-1].stream == \"end\" and .[-1].message == \"0\"' '$T/out/last.out' >/dev/null"
check "seqs run 0, 1, 2, ... across both streams" \
	bash -c "jq -e '[.[].seq] == [range(0; length)]' '$T/out/last.out' >/dev/null"

# rewrite OP: applies OP (reverse01, drop_first, drop_last, empty) to the
# records of the original log, into logs.enc.
rewrite() {
	python3 - "$T/out/logs.orig" "$LOGS" "$1" <<'PY'
import sys
src, dst, op = sys.argv[1:]
data = open(src, 'rb').read()
recs, off = [], 0
while off < len(data):
    n = int.from_bytes(data[off + 10:off + 14], 'big')
    recs.append(data[off:off + 26 + n])
    off += 26 + n
if op == 'reverse01':
    recs[0], recs[1] = recs[1], recs[0]
elif op == 'drop_first':
    recs = recs[1:]
elif op == 'drop_last':
    recs = recs[:-1]
elif op == 'empty':
    recs = []
with open(dst, 'r+b') as f:
    f.truncate(0)
    f.write(b''.join(recs))
PY
}

rewrite reverse01
expect_rc 1 "two records swapped" "$LAMBDA" logs "$id" --encryption-key key.pem
check "the missing seq is named" err_has "log record seq 0 is missing"
rewrite drop_first
expect_rc 1 "the first record dropped" "$LAMBDA" logs "$id" --encryption-key key.pem
check "seq 0 is named" err_has "log record seq 0 is missing"
rewrite drop_last
expect_rc 1 "the end record dropped" "$LAMBDA" logs "$id" --encryption-key key.pem
check "the truncation is named" err_has "log truncated after record"
rewrite empty
expect_rc 1 "an emptied log of a workload that ran" "$LAMBDA" logs "$id" --encryption-key key.pem
check "it says truncated" err_has "log truncated"
cp "$T/out/logs.orig" "$LOGS"
expect_rc 0 "the original log is fine again" "$LAMBDA" logs "$id" --encryption-key key.pem

run "$LAMBDA" logs --help
check "--help says a running instance's tail cannot be proven complete" out_has "cannot be proven complete"

done_testing
