#!/bin/bash
# The audit log: customer actions show up in `lambda audit list`, the chain
# verifies, and each kind of tampering done directly in the SQLite file
# while the platform is stopped (an edited row, a deleted middle row, two
# swapped seqs, a deleted last row) makes `lambda audit verify` exit 1
# naming the seq where the log breaks.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip_all "sqlite3 command not installed"
setup_env
platform_up
DB=

run "$LAMBDA" key generate --name audit --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"
run "$LAMBDA" create instance --type compute-4x --region local --encryption-key key.pem \
	--allow-simulated-insecure --timeout 60 -- /bin/true
id=$(head -n 1 "$T/out/last.out")
check "an instance was created" grep -qE '^inst_' "$T/out/last.out"
wait_final "$id" >/dev/null
expect_rc 0 "delete instance" "$LAMBDA" delete instance "$id"

expect_rc 0 "audit list" "$LAMBDA" audit list
check "the table has its header" grep -qE '^SEQ +TIME +EVENT +ACTOR +RESOURCE +ACTION' "$T/out/last.out"
check "the creation is listed" grep -q "instance.created.*$id" "$T/out/last.out"
check "the deletion is listed" grep -q "$id.*delete" "$T/out/last.out"
check "the key release is listed" grep -q "$id" "$T/out/last.out"
expect_rc 0 "audit list --from 2" "$LAMBDA" audit list --from 2 --json
check "--from skips seq 1" sh -c "! jq -e '.[] | select(.seq == 1)' '$T/out/last.out' >/dev/null"
expect_rc 0 "audit verify on an intact log" "$LAMBDA" audit verify
check "it says intact" out_has "audit log intact: "

# Tamper with a copy of the pristine database each time, so every case
# starts from an intact log. Triggers that forbid UPDATE and DELETE guard
# against bugs, not against someone who can write the file: drop them.
platform_down
DB=$(find "$DATA" -maxdepth 2 \( -name '*.db' -o -name '*.sqlite' \) | head -n 1)
[ -n "$DB" ] || bail "no SQLite database under $DATA"
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null || bail "cannot checkpoint $DB"
cp "$DB" "$T/out/pristine.db"
count=$(sqlite3 "$DB" 'SELECT count(*) FROM audit')
check "the log has enough rows to tamper with" test "$count" -ge 4
mid=2

# tamper DESC EXPECTED_SEQ SQL: applies SQL to a fresh copy, restarts the
# platform and checks what audit verify says.
tamper() {
	local desc=$1 want=$2 sql=$3
	cp "$T/out/pristine.db" "$DB"
	rm -f "$DB-wal" "$DB-shm"
	if ! sqlite3 "$DB" "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; $sql"; then
		not_ok "$desc: the SQL applies"
		return
	fi
	run "$LAMBDA" up --data-dir "$DATA" --listen "127.0.0.1:$PORT"
	if [ "$rc" != 0 ]; then
		not_ok "$desc: the platform starts (read-only) so that audit verify can report it (exit $rc)"
		diag "$T/out/last.err"
		return
	fi
	expect_rc 1 "$desc: audit verify" "$LAMBDA" audit verify
	if out_has "audit log broken at seq $want:"; then
		ok "$desc: broken at seq $want"
	else
		not_ok "$desc: broken at seq $want"
		diag "$T/out/last.out"
	fi
	# A control plane whose log is broken makes no change it cannot audit.
	expect_rc 4 "$desc: no change is accepted" "$LAMBDA" tenant create "t$RANDOM"
	check "$desc: the refusal names the broken log" grep -q "audit log broken" "$T/out/last.err"
	platform_down
}

tamper "edited row" $mid "UPDATE audit SET action = 'nothing' WHERE seq = $mid"
tamper "deleted middle row" $mid "DELETE FROM audit WHERE seq = $mid"
tamper "swapped seqs" $mid "UPDATE audit SET seq = 999999 WHERE seq = $mid;
	UPDATE audit SET seq = $mid WHERE seq = $((mid + 1));
	UPDATE audit SET seq = $((mid + 1)) WHERE seq = 999999"
tamper "deleted last row" "$count" "DELETE FROM audit WHERE seq = $count"

# And the pristine copy verifies again: the checks above were not noise.
cp "$T/out/pristine.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
platform_up
expect_rc 0 "the untouched log still verifies" "$LAMBDA" audit verify

done_testing
