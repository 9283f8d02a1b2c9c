#!/bin/bash
# Volume throughput: sequential write and read of SIZE_MB (default 1024)
# through the user-space path (FUSE + XTS server + loop + ext4) against the
# same through ext4 on a loop device over a plain file, and the AES-256-XTS
# rate of OpenSSL on 4096-byte units. Needs root, /dev/fuse, loop devices.
# Usage: bench/volume.sh [BUILD_DIR]   (figures go to docs/benchmarks.md)
set -eu
B=${1:-build}
TOOL=$B/tests/tools/volume_tool
SIZE_MB=${SIZE_MB:-1024}
dir=$(mktemp -d /var/tmp/lm-bench-volume-XXXXXX)
chmod 711 "$dir"
opener=
plain_mnt=
cleanup() {
	[ -n "$opener" ] && { exec 7>&-; wait "$opener" || true; }
	[ -n "$plain_mnt" ] && umount "$plain_mnt" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
rate() {	# dd's last line: "... copied, S s, R MB/s"
	sed -n 's/.*copied, \([0-9.]*\) s, \(.*\)$/\2 (\1 s)/p' | tail -n 1
}
run_dd() {	# MOUNT_DIR LABEL
	drop
	w=$(dd if=/dev/zero of="$1/big" bs=1M count="$SIZE_MB" conv=fsync 2>&1 | rate)
	drop
	r=$(dd if="$1/big" of=/dev/null bs=1M iflag=direct 2>&1 | rate)
	printf '| %s | %s | %s |\n' "$2" "$w" "$r"
}

echo "kernel $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "| path | write ${SIZE_MB} MiB, conv=fsync | read, iflag=direct |"
echo "|---|---|---|"

head -c 32 /dev/urandom >"$dir/k"
img_mb=$((SIZE_MB + SIZE_MB / 8 + 64))
"$TOOL" create "$dir/v.img" $((img_mb << 20)) "$dir/k" 2>/dev/null
mkfifo "$dir/ctl"
"$TOOL" open "$dir/v.img" "$dir/run" "$dir/k" --userspace <"$dir/ctl" >"$dir/out" 2>/dev/null &
opener=$!
exec 7>"$dir/ctl"
for _ in $(seq 300); do grep -q ready "$dir/out" && break; sleep 0.1; done
run_dd "$dir/run/data" "FUSE + XTS + loop + ext4"
exec 7>&-
wait "$opener"
opener=

truncate -s $((img_mb << 20)) "$dir/plain.img"
mkfs.ext4 -q -F -b 4096 -E nodiscard "$dir/plain.img"
plain_mnt=$dir/plain
mkdir "$plain_mnt"
mount -o loop "$dir/plain.img" "$plain_mnt"
run_dd "$plain_mnt" "loop + ext4 (no encryption)"
umount "$plain_mnt"
plain_mnt=

echo
echo "openssl speed -evp aes-256-xts -bytes 4096 -seconds 3 (one core):"
taskset -c 0 openssl speed -evp aes-256-xts -bytes 4096 -seconds 3 2>/dev/null | tail -n 1
echo "our XTS path, lm_xts_sectors over 1 GiB in memory (one core):"
taskset -c 0 "$B/bench/xts_bench" 1024
