#!/bin/bash
# Instance volumes through the user-space path (lib/volume: FUSE + loop +
# ext4), checked against cryptsetup and an independent decryptor written
# here: XTS mode from AES-256-ECB (`openssl enc`, for the block cipher only)
# and GF(2^128) doubling in python3, tweak le64(8k) for 4096-byte sector k.
#   (a) a volume made and written through our path decrypts, with the key
#       `cryptsetup luksDump --dump-volume-key` prints, to an ext4 image in
#       which debugfs finds the files and e2fsck -fn finds no error;
#   (b) a volume made by `cryptsetup luksFormat` with a key from
#       `lambda key derive --volume` that contains a 0x00 byte opens through
#       our path; without dm-crypt cryptsetup cannot write plaintext into
#       it, so (b2) a plaintext ext4 image with files, encrypted in place by
#       `cryptsetup reencrypt --encrypt` (offline, user space), opens
#       through our path and shows the files;
#   (c) kill -9 of the server or of the opener while a writer runs: the
#       next open cleans the stale mounts and loop device, fsync'ed files
#       are there, e2fsck -fn is clean.
# TAP output; exit 77 with the reason where FUSE, loop devices or tools are
# missing.
set -u

B=${LAMBDA_BUILD_DIR:?}
TOOL=$B/tests/tools/volume_tool
LAMBDA=$B/cli/lambda
skip() { echo "1..0 # SKIP $1"; exit 77; }
[ -x "$TOOL" ] && [ -x "$LAMBDA" ] || skip "volume_tool or lambda not built"
[ "$(id -u)" = 0 ] || skip "needs root (mount, loop devices)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -c /dev/loop-control ] || skip "no /dev/loop-control"
for t in cryptsetup openssl python3 debugfs e2fsck mkfs.ext4; do
	command -v $t >/dev/null || skip "$t not installed"
done

dir=$(mktemp -d /var/tmp/lm-it-volume-XXXXXX)
chmod 711 "$dir"
opener_pid=
cleanup() {
	[ -n "$opener_pid" ] && kill "$opener_pid" 2>/dev/null && wait "$opener_pid" 2>/dev/null
	for r in "$dir"/run*; do [ -d "$r" ] && "$TOOL" cleanup "$r" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
hex_of() { od -An -tx1 -v "$1" | tr -d ' \n'; }

# open IMAGE RUN KEY: starts volume_tool in the background holding the
# volume; sets mnt, server_pid, opener_pid. close: ends it.
open_vol() {
	rm -f ctl.fifo && mkfifo ctl.fifo
	"$TOOL" open "$1" "$2" "$3" --userspace <ctl.fifo >open.out 2>>open.err &
	opener_pid=$!
	exec 7>ctl.fifo
	for _ in $(seq 100); do
		grep -q '^ready' open.out 2>/dev/null && break
		kill -0 $opener_pid 2>/dev/null || break
		sleep 0.1
	done
	read -r _ mnt _ server_pid <open.out 2>/dev/null || { mnt=; server_pid=; }
	[ -n "$mnt" ]
}
close_vol() {
	local rc
	exec 7>&-
	wait "$opener_pid"
	rc=$?
	opener_pid=
	return $rc
}

# volume_key IMAGE KEYFILE and decrypt IMAGE KEYHEX OUT.
. "$(dirname "$0")/volume_lib.sh"

echo "1..21"

# A CMK and a volume id whose keyslot passphrase holds a 0x00 byte.
"$LAMBDA" key generate --name vol-test --output cmk.pem >/dev/null 2>&1
vid=
for i in $(seq 0 400); do
	"$LAMBDA" key derive cmk.pem --region r1 --instance inst_vol --volume "vol_$i" --output "k$i" 2>/dev/null || break
	if hex_of "k$i" | grep -Eq '^(..)*00'; then vid=vol_$i; cp "k$i" slot.key; break; fi
	rm -f "k$i"
done
check "a derived keyslot passphrase with a 0x00 byte (volume $vid)" test -n "$vid" -a "$(stat -c %s slot.key 2>/dev/null)" = 32

# ---- (a) made and written through our path ----
"$TOOL" create "$dir/a.img" $((48 << 20)) slot.key 2>>open.err
check "create a volume through our path" test -f a.img
check "cryptsetup opens its keyslot with the binary key file" \
	cryptsetup open --test-passphrase --key-file slot.key a.img
if open_vol "$dir/a.img" "$dir/runa" slot.key; then
	ok "open through FUSE + loop + ext4 (server $server_pid)"
else
	not_ok "open through FUSE + loop + ext4"; cat open.err >&2
fi
check "the root of the fresh filesystem belongs to uid 65534" test "$(stat -c %u "$mnt" 2>/dev/null)" = 65534
echo "hello from lambda" >"$mnt/hello.txt" 2>/dev/null
head -c 3000000 /dev/urandom >big.bin
cp big.bin "$mnt/big.bin" 2>/dev/null && sync
check "files written through the mount read back" cmp -s big.bin "$mnt/big.bin"
check "the FUSE and ext4 mounts are in place" grep -q " $dir/runa/data .* ext4 " /proc/self/mountinfo
close_vol
check "close exits 0" test $? -eq 0
check "no mount left after close" test -z "$(grep " $dir/runa/" /proc/self/mountinfo)"
check "no loop device left after close" test -z "$(losetup -a | grep "$dir/runa/")"
key=$(volume_key a.img slot.key)
check "luksDump --dump-volume-key prints a 512-bit key" test ${#key} -eq 128
decrypt a.img "$key" a.plain 2>/dev/null
check "the independent decryptor yields an ext4 that e2fsck -fn finds clean" e2fsck -fn a.plain
check "debugfs reads hello.txt from the plaintext" \
	test "$(debugfs -R 'cat /hello.txt' a.plain 2>/dev/null)" = "hello from lambda"
debugfs -R 'dump /big.bin a.big' a.plain >/dev/null 2>&1
check "debugfs reads big.bin, byte for byte" cmp -s big.bin a.big

# ---- (b) made by cryptsetup luksFormat with the derived key ----
truncate -s 48M b.img
cryptsetup luksFormat --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file slot.key --batch-mode b.img 2>>open.err
if open_vol "$dir/b.img" "$dir/runb" slot.key; then
	echo "written into a cryptsetup volume" >"$mnt/b.txt"
	close_vol
	ok "a luksFormat volume opens through our path (made ext4, written)"
else
	not_ok "a luksFormat volume opens through our path"
	close_vol
fi
decrypt b.img "$(volume_key b.img slot.key)" b.plain 2>/dev/null
check "cryptsetup's volume key decrypts what we wrote into it" \
	test "$(debugfs -R 'cat /b.txt' b.plain 2>/dev/null)" = "written into a cryptsetup volume"

# (b2) ciphertext written by cryptsetup itself
mkdir src && echo "encrypted by cryptsetup" >src/c.txt && cp big.bin src/
truncate -s 80M c.img
mkfs.ext4 -q -F -b 4096 -d src c.img 48M
cryptsetup reencrypt --encrypt --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --reduce-device-size 32M --key-file slot.key \
	--batch-mode c.img >/dev/null 2>>open.err
if open_vol "$dir/c.img" "$dir/runc" slot.key; then
	check "a volume cryptsetup encrypted shows its files through our path" \
		test "$(cat "$mnt/c.txt" 2>/dev/null)" = "encrypted by cryptsetup" -a -n "$(cmp big.bin "$mnt/big.bin" && echo same)"
	close_vol
else
	not_ok "a volume cryptsetup encrypted opens through our path"
	close_vol
fi

# ---- (c) kill -9 while a writer runs ----
crash() {
	local victim=$1 img=$2 run=$3 i=0
	"$TOOL" create "$dir/$img" $((48 << 20)) slot.key 2>>open.err
	open_vol "$dir/$img" "$dir/$run" slot.key || return 1
	: >committed
	(
		while :; do
			i=$((i + 1))
			head -c 65536 /dev/urandom >w.$i
			dd if=w.$i of="$mnt/f$i" bs=64k conv=fsync status=none 2>/dev/null || exit 0
			echo $i >>committed
		done
	) &
	local writer=$!
	sleep 1.5
	if [ "$victim" = server ]; then kill -9 "$server_pid"; else kill -9 "$opener_pid"; fi
	sleep 0.5
	kill -9 "$opener_pid" 2>/dev/null
	wait "$writer" 2>/dev/null
	wait "$opener_pid" 2>/dev/null
	exec 7>&-
	opener_pid=
	open_vol "$dir/$img" "$dir/$run" slot.key || return 1
	local bad=0 count=0
	for j in $(cat committed); do
		cmp -s "w.$j" "$mnt/f$j" || bad=$((bad + 1))
		count=$((count + 1))
	done
	echo "# $victim killed: $count files committed before, $bad missing or different" >&2
	close_vol || return 1
	[ $count -gt 0 ] && [ $bad -eq 0 ] || return 1
	decrypt "$img" "$(volume_key "$img" slot.key)" "$img.plain" 2>/dev/null
	e2fsck -fn "$img.plain" >/dev/null 2>&1
}
check "kill -9 of the server: stale state cleaned, fsync'ed files there, e2fsck clean" crash server d.img rund
check "kill -9 of the opener: its server dies too, next open recovers, e2fsck clean" crash opener e.img rune
check "nothing of ours stays mounted" test -z "$(grep " $dir/" /proc/self/mountinfo)"
check "no loop device of ours remains" test -z "$(losetup -a | grep "$dir/")"

[ $failed -eq 0 ] || cat open.err >&2
exit $((failed > 0))
