#!/bin/bash
# Instance key rotation, end to end (`lambda key rotate INST`):
#   - a wrong --old-key is refused before anything is touched (exit 3, the
#     message names the key needed; the volume still opens with the old key);
#   - v1 -> v2 re-wrap of an exited instance: the key id is v2's, start and
#     logs with v1 are refused (exit 3), start with v2 reads /data/f back;
#     cryptsetup confirms v1's keyslot passphrase no longer opens the image
#     and v2's does, and the volume key is unchanged;
#   - --reencrypt of a running instance is refused; v2 -> v3 re-wrap while
#     the workload runs leaves it running;
#   - v3 -> v4 --reencrypt of the stopped instance: a new volume key
#     (luksDump --dump-volume-key before and after), only v4 opens, the data
#     is there; lambda logs reads every record with the old keys given;
#   - the audit log has instance.key_rotated with the new key ids.
# TAP output; exit 77 with the reason where root, FUSE, loop devices, user
# namespaces or tools are missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/volume_lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (mount, loop devices)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -c /dev/loop-control ] || skip_all "no /dev/loop-control"
for t in bwrap findmnt losetup cryptsetup jq; do
	command -v $t >/dev/null || skip_all "$t not installed"
done
unshare --user true 2>/dev/null || skip_all "no unprivileged user namespaces"
setup_env
platform_up

for k in v1 v2 v3 v4 wrong; do
	run "$LAMBDA" key generate --name "rotate-$k" --output "$k.pem"
	[ "$rc" = 0 ] || bail "key generate $k failed"
	eval "${k}_id=\$(grep -o 'lmk_[0-9a-f]\{16\}' $k.pem | head -n 1)"
done

# opens SLOTFILE: the keyslot passphrase in SLOTFILE opens the image.
opens() {
	cryptsetup open --test-passphrase --key-file "$1" "$img" >/dev/null 2>&1
}

wait_status() {
	for _ in $(seq 150); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

rotate() {
	run "$LAMBDA" key rotate "$id" --timeout 60 "$@"
}

# 1. An instance keyed with v1 whose workload writes /data/f.
mark=rot-$RANDOM$RANDOM
run "$LAMBDA" create instance --type compute-1x --region local --encryption-key v1.pem --timeout 60 \
	--volume-size 48M --env MARK="$mark" -- /bin/sh -c 'echo "$MARK" >/data/f && sync /data/f && echo wrote'
id=$(head -n 1 "$T/out/last.out")
[ -n "$id" ] && [ "$rc" = 0 ] || { diag "$T/out/last.err"; bail "create failed"; }
check "the writer exited 0" test "$(wait_final "$id")" = exited
vid=$(field_of "$id" volume_id)
img=$DATA/agent/instances/$id/volume.img
for k in v1 v2 v3 v4; do
	"$LAMBDA" key derive $k.pem --region local --instance "$id" --volume "$vid" --output "$k.slot" 2>/dev/null ||
		bail "key derive $k failed"
done
check "v1's keyslot passphrase opens the image" opens v1.slot
check "v2's does not yet" sh -c "! cryptsetup open --test-passphrase --key-file v2.slot '$img' 2>/dev/null"
vk_before=$(volume_key "$img" v1.slot)
check "cryptsetup dumps the volume key" test ${#vk_before} = 128

# 2. A wrong --old-key changes nothing.
rotate --old-key wrong.pem --new-key v2.pem
check "a wrong --old-key is refused with exit 3 (exit $rc)" test "$rc" = 3
check "the refusal names the key needed" err_has "$v1_id"
check "the instance still records v1" test "$(field_of "$id" key_id)" = "$v1_id"
check "v1 still opens the image" opens v1.slot
check "the instance was not touched" test "$(status_of "$id")" = exited
expect_rc 2 "the same key twice is refused" "$LAMBDA" key rotate "$id" --old-key v1.pem --new-key v1.pem

# 3. Re-wrap v1 -> v2 of the exited instance.
rotate --old-key v1.pem --new-key v2.pem
check "key rotate v1 -> v2 (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || diag "$T/out/last.err"
check "it attested the guest first" err_has "nonce binding"
check "it says what it did" out_has "$v1_id -> $v2_id"
check "the instance records v2" test "$(field_of "$id" key_id)" = "$v2_id"
check "v1's keyslot passphrase no longer opens the image (cryptsetup)" sh -c "! cryptsetup open --test-passphrase --key-file v1.slot '$img' 2>/dev/null"
check "v2's opens it (cryptsetup)" opens v2.slot
check "the volume key is unchanged by a re-wrap" test "$(volume_key "$img" v2.slot)" = "$vk_before"
check "one keyslot is left" test "$(cryptsetup luksDump "$img" | grep -cE '^  [0-9]+: luks2')" = 1
expect_rc 3 "start with v1 is refused" "$LAMBDA" start instance "$id" --encryption-key v1.pem -- /bin/true
check "the refusal names v2" err_has "$v2_id"
expect_rc 3 "logs with v1 are refused" "$LAMBDA" logs "$id" --encryption-key v1.pem
expect_rc 1 "logs with v2 alone stop at the records written under v1" "$LAMBDA" logs "$id" --encryption-key v2.pem
check "and say how to read them" err_has "--old-key"

# 4. v2 opens it; --reencrypt refused while running; re-wrap while running.
run "$LAMBDA" start instance "$id" --encryption-key v2.pem --timeout 60 -- \
	/bin/sh -c 'echo "read: $(cat /data/f)"; echo more >/data/g; sync /data/g; sleep 300'
check "start with v2 (exit $rc)" test "$rc" = 0
check "it is running" wait_status "$id" running
ok_logs() { "$LAMBDA" logs "$id" --encryption-key "$@" 2>/dev/null | grep -qF "read: $mark"; }
wait_read() { for _ in $(seq 150); do ok_logs "$@" && return 0; sleep 0.2; done; return 1; }
check "/data/f is there under v2" wait_read v2.pem --old-key v1.pem
expect_rc 0 "logs with v2 and --old-key v1 read every record" "$LAMBDA" logs "$id" --encryption-key v2.pem --old-key v1.pem
check "both runs' lines" sh -c "grep -qx wrote '$T/out/last.out' && grep -qx 'read: $mark' '$T/out/last.out'"
rotate --old-key v2.pem --new-key v3.pem --reencrypt
check "--reencrypt of a running instance is refused (exit $rc)" test "$rc" = 1
check "the refusal says to stop it" err_has "stop"
check "v2 still opens the image" opens v2.slot
rotate --old-key v2.pem --new-key v3.pem
check "re-wrap v2 -> v3 while the workload runs (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || { diag "$T/out/last.err"; grep -i "rotat\|volume\|luks\|crypt" "$DATA/lambdad.log" | tail -n 15 | sed "s/^/# /"; }
check "the workload keeps running" test "$(status_of "$id")" = running
check "only v3 opens the image" sh -c "cryptsetup open --test-passphrase --key-file v3.slot '$img' && ! cryptsetup open --test-passphrase --key-file v2.slot '$img' 2>/dev/null"

# 5. Reencrypt v3 -> v4 of the stopped instance.
expect_rc 0 "stop" "$LAMBDA" stop instance "$id"
vk_mid=$(volume_key "$img" v3.slot)
rotate --old-key v3.pem --new-key v4.pem --reencrypt --json
check "key rotate --reencrypt v3 -> v4 (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || diag "$T/out/last.err"
check "it showed progress" err_has "reencrypting"
check "--json prints the instance keyed with v4" test "$(jq -r .key_id "$T/out/last.out")" = "$v4_id"
check "the instance records v4" test "$(field_of "$id" key_id)" = "$v4_id"
check "v3 no longer opens the image" sh -c "! cryptsetup open --test-passphrase --key-file v3.slot '$img' 2>/dev/null"
check "v4 opens it" opens v4.slot
vk_after=$(volume_key "$img" v4.slot)
check "the volume key changed" sh -c "[ ${#vk_after} = 128 ] && [ '$vk_after' != '$vk_mid' ]"
check "cryptsetup sees no reencryption left" sh -c "! cryptsetup luksDump '$img' | grep -q online-reencrypt"
check "the instance awaits its key after the rotation" test "$(status_of "$id")" = awaiting_key
expect_rc 3 "start with v3 is refused" "$LAMBDA" start instance "$id" --encryption-key v3.pem -- /bin/true
run "$LAMBDA" start instance "$id" --encryption-key v4.pem --timeout 60 -- \
	/bin/sh -c 'echo "after: $(cat /data/f) $(cat /data/g)"'
check "start with v4 (exit $rc)" test "$rc" = 0
check "it exited 0" test "$(wait_final "$id")" = exited
expect_rc 0 "logs with v4 and the old keys" "$LAMBDA" logs "$id" --encryption-key v4.pem --old-key v1.pem --old-key v2.pem --old-key v3.pem
check "the data survived the reencryption" out_has "after: $mark more"

# 6. Audit.
run "$LAMBDA" audit list --json
check "audit shows instance.key_rotated to v2 (re-wrap)" sh -c "jq -e '[.[] | select(.event_type == \"instance.key_rotated\" and .resource == \"$id\" and .metadata.new_key_id == \"$v2_id\" and .metadata.reencrypt == false)] | length == 1' '$T/out/last.out' >/dev/null"
check "and to v4 with reencrypt" sh -c "jq -e '[.[] | select(.event_type == \"instance.key_rotated\" and .metadata.new_key_id == \"$v4_id\" and .metadata.reencrypt == true)] | length == 1' '$T/out/last.out' >/dev/null"
check "no rotation event for the refused attempts" sh -c "[ \$(jq '[.[] | select(.event_type == \"instance.key_rotated\")] | length' '$T/out/last.out') = 3 ]"
expect_rc 0 "the audit log verifies" "$LAMBDA" audit verify

expect_rc 0 "delete" "$LAMBDA" delete instance "$id"
done_testing
