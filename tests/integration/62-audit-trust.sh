#!/bin/bash
# Whom `lambda audit verify` trusts: the audit key pinned by `lambda up`
# (or on first use), and the head it verified last time. A log rewritten
# and re-signed with a fresh key, and a log rolled back to an older
# checkpoint, both verify on their own; both must be refused here.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip_all "sqlite3 command not installed"
FORGE=$BUILD/tests/tools/audit_forge
[ -x "$FORGE" ] || skip_all "audit_forge not built"
setup_env
platform_up
CFG=$XDG_CONFIG_HOME/lambda/config.json
STATE=$HOME/.local/state/lambda/audit-heads.json

check "lambda up pins the audit key of DATA_DIR/audit.pub" \
	test "$(jq -r .audit_public_key "$CFG")" = "$(cat "$DATA/audit.pub")"
expect_rc 0 "audit verify on an intact log" "$LAMBDA" audit verify
check "it remembers the verified head" test -f "$STATE"
check "the state file has mode 600" test "$(stat -c %a "$STATE")" = 600

# Trust on first use: a configuration without a pin gets one, and says so.
(umask 077 && jq 'del(.audit_public_key)' "$CFG" >"$T/out/tofu.json")
LAMBDA_CONFIG=$T/out/tofu.json expect_rc 0 "audit verify without a pinned key" "$LAMBDA" audit verify
check "it says it pinned the key on first use" err_has "trust on first use"
check "the key is now in that configuration" \
	test "$(jq -r .audit_public_key "$T/out/tofu.json")" = "$(cat "$DATA/audit.pub")"

# A snapshot of the log as it is now, then more events.
platform_down
DB=$DATA/lambda.db
[ -f "$DB" ] || bail "no database at $DB"
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null || bail "cannot checkpoint $DB"
cp "$DB" "$T/out/old.db"
old_count=$(sqlite3 "$DB" 'SELECT count(*) FROM audit')
cp "$CFG" "$T/out/client.json"	# lambda up rewrites the configuration
platform_up
cp "$T/out/client.json" "$CFG"
run "$LAMBDA" tenant create "t1-$RANDOM"
run "$LAMBDA" tenant create "t2-$RANDOM"
expect_rc 0 "audit verify after more events" "$LAMBDA" audit verify
check "the remembered head moved past the snapshot" test "$(jq '[.[]][0].seq' "$STATE")" -gt "$old_count"

# 1. Rollback: the old database (older rows, its own valid checkpoint).
platform_down
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
cp "$DB" "$T/out/new.db"
cp "$T/out/old.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
platform_up
cp "$T/out/client.json" "$CFG"
expect_rc 1 "audit verify on a log rolled back to an old checkpoint" "$LAMBDA" audit verify
check "it names the rollback and the seq verified before" \
	grep -q "rollback: the log ends at seq [0-9]* but seq [0-9]* was verified before" "$T/out/last.out"

# 2. A rewritten log re-signed with a fresh key (row 1 edited).
platform_down
cp "$T/out/new.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
sqlite3 -separator $'\t' "$DB" "SELECT event_type, actor, CASE resource WHEN '' THEN '-' ELSE resource END,
	CASE seq WHEN 1 THEN 'forged' ELSE action END, metadata FROM audit ORDER BY seq" >"$T/out/rows.tsv"
sqlite3 "$DB" "DROP TRIGGER audit_no_delete; DELETE FROM audit; DELETE FROM audit_checkpoint" ||
	bail "cannot empty the audit log"
"$FORGE" "$DB" "$DATA" <"$T/out/rows.tsv" || bail "audit_forge failed"
platform_up
cp "$T/out/client.json" "$CFG"
expect_rc 0 "the forged log verifies under its own key (audit list works)" "$LAMBDA" audit list
check "row 1 is the forged one" out_has "forged"
expect_rc 1 "audit verify with the pinned key refuses the forged log" "$LAMBDA" audit verify
check "it says the audit key changed" err_has "the control plane's audit key changed"
check "the pin is unchanged" test "$(jq -r .audit_public_key "$CFG")" != "$(cat "$DATA/audit.pub")"

# 3. A platform made anew on the same endpoint (new data dir, new key that
# lambda up pins) has a new log: not a rollback of the old one.
platform_down
rm -rf "$DATA"
platform_up
expect_rc 0 "audit verify on a platform made anew at the same endpoint" "$LAMBDA" audit verify
check "... whose history is kept apart from the old one" test "$(jq length "$STATE")" -ge 2

done_testing
