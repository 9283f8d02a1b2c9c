#!/bin/bash
# Instance stop and start on the existing encrypted volume, end to end:
#   - a workload writes and fsyncs a file to /data and exits; a start with
#     another command reads it back (the logs go on in one sequence);
#   - stop while a workload runs, then start: the data is there;
#   - kill -9 of the workload: failed with 137, start again, data there;
#   - kill -9 of lambda-guest: failed; start again: what was fsync'ed
#     before the kill is there (the journal replays on mount);
#   - start with another master key: refused before anything is touched
#     (exit 3, the message names the key needed); a guest that is released
#     a key that does not open its volume refuses it and keeps waiting; the
#     right key then works;
#   - the decrypted volume is clean for e2fsck -fn after all of that, and
#     no mount or loop device of the instance is left after stop and delete.
# TAP output; exit 77 with the reason where root, FUSE, loop devices, user
# namespaces or tools are missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/volume_lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (mount, loop devices)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -c /dev/loop-control ] || skip_all "no /dev/loop-control"
for t in bwrap findmnt losetup cryptsetup openssl python3 e2fsck jq; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
unshare --user true 2>/dev/null || skip_all "no unprivileged user namespaces"
setup_env
platform_up

run "$LAMBDA" key generate --name restart-key --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"
key_id=$(grep -o 'lmk_[0-9a-f]\{16\}' key.pem | head -n 1)
run "$LAMBDA" key generate --name other-key --output other.pem
[ "$rc" = 0 ] || bail "key generate (second key) failed"
other_id=$(grep -o 'lmk_[0-9a-f]\{16\}' other.pem | head -n 1)

start() {
	local id=$1
	shift
	run "$LAMBDA" start instance "$id" --encryption-key key.pem --timeout 60 "$@"
}

# logs_have ID TEXT: the decrypted stdout of ID contains TEXT.
logs_have() {
	"$LAMBDA" logs "$1" --encryption-key key.pem 2>/dev/null | grep -qF -- "$2"
}

# wait_logs ID TEXT: up to 30 s for TEXT to show in the logs.
wait_logs() {
	for _ in $(seq 150); do
		logs_have "$1" "$2" && return 0
		sleep 0.2
	done
	return 1
}

wait_status() {
	for _ in $(seq 150); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# Nothing of the instance mounted, no loop device on its FUSE file.
no_leftovers() {
	! findmnt -rn -o TARGET | grep -qF "/run/lambda-guest/$1/" &&
		! losetup -a | grep -qF "/run/lambda-guest/$1/"
}

# 1. Written and fsync'ed, exit; a new command on the same volume reads it.
mark=persist-$RANDOM$RANDOM
run "$LAMBDA" create instance --type compute-1x --region local --encryption-key key.pem --timeout 60 \
	--volume-size 40M --env MARK="$mark" -- /bin/sh -c 'echo "$MARK" >/data/note && sync /data/note && echo wrote'
id=$(head -n 1 "$T/out/last.out")
[ -n "$id" ] && [ "$rc" = 0 ] || { diag "$T/out/last.err"; bail "create failed"; }
check "the writer exited 0" test "$(wait_final "$id")" = exited
check "the guest closed the volume after the workload" no_leftovers "$id"
vid=$(field_of "$id" volume_id)

start "$id" -- /bin/sh -c 'echo "read: $(cat /data/note)"'
check "start from exited prints the id (exit $rc)" sh -c "[ $rc = 0 ] && grep -qx '$id' '$T/out/last.out'"
check "start verified the new guest's attestation" err_has "nonce binding"
check "the reader exited 0" test "$(wait_final "$id")" = exited
check "its logs show the content written before" logs_have "$id" "read: $mark"
expect_rc 0 "the logs of both runs decrypt in one rising sequence" "$LAMBDA" logs "$id" --encryption-key key.pem
check "they hold both runs' lines" sh -c "grep -qx wrote '$T/out/last.out' && grep -qx 'read: $mark' '$T/out/last.out'"

# 2. Stop while a workload runs, then start.
start "$id" -- /bin/sh -c 'echo second >/data/two && sync /data/two && echo ready2 && sleep 300'
check "start after stop runs the workload (exit $rc)" test "$rc" = 0
check "the workload is running" wait_status "$id" running
check "it wrote its file" wait_logs "$id" ready2
check "the volume is mounted while it runs" sh -c "findmnt -rn -o TARGET | grep -qF '/run/lambda-guest/$id/data'"
expect_rc 1 "start refuses a running instance" "$LAMBDA" start instance "$id" --encryption-key key.pem -- /bin/true
check "the refusal says why" err_has "only exited, failed or stopped"
expect_rc 0 "stop a running instance" "$LAMBDA" stop instance "$id"
check "its status is stopped" test "$(status_of "$id")" = stopped
expect_rc 0 "the log of a stopped run is complete (its end record is there)" \
	"$LAMBDA" logs "$id" --encryption-key key.pem
check "no mount or loop device of it is left after stop" no_leftovers "$id"
expect_rc 1 "stopping it again is refused" "$LAMBDA" stop instance "$id"
start "$id" -- /bin/sh -c 'echo "two: $(cat /data/two)"'
check "start from stopped (exit $rc)" test "$rc" = 0
check "the data written before the stop is there" wait_logs "$id" "two: second"

# 3. kill -9 of the workload: failed with 137; start again, data there.
check "the reader ended" test "$(wait_final "$id")" = exited
start "$id" -- /bin/sh -c 'echo third >/data/three && sync /data/three && echo ready3 && sleep 300'
check "the third workload runs" wait_logs "$id" ready3
cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "lambda-$id" 2>/dev/null | head -n 1)
check "the workload's cgroup is found" test -n "$cg" -a -r "$cg/cgroup.procs"
for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
check "the killed workload makes the instance failed" test "$(wait_final "$id")" = failed
check "with exit code 137" test "$(field_of "$id" exit_code)" = 137
start "$id" -- /bin/sh -c 'echo "three: $(cat /data/three)"; ls /data'
check "start after the kill (exit $rc)" test "$rc" = 0
check "the data is there" wait_logs "$id" "three: third"
check "the run ended" test "$(wait_final "$id")" = exited

# 4. kill -9 of lambda-guest while its workload runs.
start "$id" -- /bin/sh -c 'echo fourth >/data/four && sync /data/four && echo ready4 && sleep 300'
check "the fourth workload runs" wait_logs "$id" ready4
gpid=$(pgrep -f -- "--instance-dir $DATA/agent/instances/$id( |\$)" | head -n 1)
check "the guest process is found" test -n "$gpid"
[ -n "$gpid" ] && kill -9 "$gpid"
check "the killed guest makes the instance failed" test "$(wait_final "$id")" = failed
start "$id" -- /bin/sh -c 'echo "four: $(cat /data/four)"; echo "note: $(cat /data/note)"'
check "start after the guest was killed (exit $rc)" test "$rc" = 0
check "what was fsync'ed before the kill is there" wait_logs "$id" "four: fourth"
check "and the first file too" logs_have "$id" "note: $mark"
check "the run ended" test "$(wait_final "$id")" = exited

# 5. Keys.
before=$(status_of "$id")
expect_rc 3 "start with another master key is refused" "$LAMBDA" start instance "$id" \
	--encryption-key other.pem -- /bin/true
check "the message names the key needed" err_has "$id is under key $key_id; other.pem is $other_id"
check "the instance is untouched" test "$(status_of "$id")" = "$before"
# A key whose id the platform does not know (the record lost it): the guest
# itself refuses the release, and keeps waiting for the right key.
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA busy_timeout = 10000");
c.execute("UPDATE instances SET key_id = ? WHERE id = ?", ("", sys.argv[2])); c.commit()' "$DATA/lambda.db" "$id"
expect_rc 3 "a key that does not open the volume is refused by the guest" "$LAMBDA" start instance "$id" \
	--encryption-key other.pem --timeout 60 -- /bin/true
check "the message says the key is wrong" err_has "wrong key: the released key does not unlock this instance's volume"
check "the instance still awaits its key" test "$(status_of "$id")" = awaiting_key
expect_rc 0 "an instance awaiting its key with a volume can be stopped" "$LAMBDA" stop instance "$id"
check "... and is stopped" test "$(status_of "$id")" = stopped
start "$id" -- /bin/sh -c 'echo "again: $(cat /data/note)"'
check "the right key then works (exit $rc)" test "$rc" = 0
check "and reads the volume" wait_logs "$id" "again: $mark"
check "the run ended" test "$(wait_final "$id")" = exited

# 6. The volume is a clean ext4 after all of it; nothing is left behind.
expect_rc 0 "stop an exited instance" "$LAMBDA" stop instance "$id"
check "no mount or loop device of it is left" no_leftovers "$id"
img=$DATA/agent/instances/$id/volume.img
run "$LAMBDA" key derive key.pem --region local --instance "$id" --volume "$vid" --output slot.key
check "the keyslot passphrase derives" test "$rc" = 0
decrypt "$img" "$(volume_key "$img" slot.key)" plain.img 2>/dev/null
check "the decrypted volume is clean for e2fsck -fn" sh -c "e2fsck -fn plain.img >/dev/null 2>&1"
rm -f plain.img
expect_rc 0 "the audit log verifies" "$LAMBDA" audit verify
run "$LAMBDA" audit list --json
check "the audit log has instance.stopped and instance.started" sh -c \
	"grep -q instance.stopped '$T/out/last.out' && grep -q instance.started '$T/out/last.out'"
expect_rc 0 "delete" "$LAMBDA" delete instance "$id"
check "no mount or loop device of it is left after delete" no_leftovers "$id"
check "its run directory is gone" test ! -e "/run/lambda-guest/$id"

done_testing
