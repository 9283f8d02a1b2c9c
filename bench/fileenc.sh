#!/bin/bash
# Encrypted file benchmark, all in one run on one machine, printed as
# Markdown for docs/benchmarks.md ("Encrypted files"):
#  - `lambda encrypt` and `lambda decrypt` of 1 GiB on tmpfs (/dev/shm),
#  - the same with age (X25519 recipient from age-keygen, no passphrase),
#  - `openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3`, the
#    single-core AES-256-GCM ceiling for 64 KiB buffers.
# Reports lambda's user CPU rate as % of openssl's and wall time against
# age (sys time is shown too: on tmpfs it is the page copies). Each command
# runs $RUNS times (default 5); the least wall and the least user time are
# kept. Usage: bench/fileenc.sh [BUILD_DIR] (default build)
set -euo pipefail
build=$(realpath "${1:-build}")
lambda="$build/cli/lambda"
command -v age >/dev/null || { echo "age is missing: scripts/install-deps.sh" >&2; exit 1; }
tmp=$(mktemp -d /dev/shm/lambda-bench-fileenc.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
size=$((1 << 30))

head -c $size /dev/urandom > "$tmp/plain"
"$lambda" key generate --name bench --output "$tmp/key.pem" >/dev/null 2>&1
age-keygen -o "$tmp/age.key" 2>/dev/null
recipient=$(age-keygen -y "$tmp/age.key")

# best_of CMD...: runs CMD $RUNS times (default 5); sets wall to the
# fastest wall time, and user and sys to the least user CPU time and the
# sys time of that run. User time is counted in 10 ms ticks, 4 % of a
# 0.25 s run, so a single run's share of openssl's rate moves by that much.
runs=${RUNS:-5}
best_of() {
	local i out w u s
	wall="" user="" sys=""
	for i in $(seq "$runs"); do
		rm -f "$tmp/out"
		out=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
		read -r w u s <<<"$out"
		if [ -z "$wall" ] || awk -v a="$w" -v b="$wall" 'BEGIN { exit !(a < b) }'; then
			wall=$w
		fi
		if [ -z "$user" ] || awk -v a="$u" -v b="$user" 'BEGIN { exit !(a < b) }'; then
			user=$u sys=$s
		fi
	done
}

best_of "$lambda" encrypt --key "$tmp/key.pem" "$tmp/plain" -o "$tmp/out"
lenc_wall=$wall lenc_user=$user lenc_sys=$sys
mv "$tmp/out" "$tmp/cipher.lmbd"
best_of "$lambda" decrypt --key "$tmp/key.pem" "$tmp/cipher.lmbd" -o "$tmp/out"
ldec_wall=$wall ldec_user=$user ldec_sys=$sys
cmp -s "$tmp/out" "$tmp/plain" || { echo "lambda decrypt gave other bytes" >&2; exit 1; }
rm -f "$tmp/out"
best_of age -r "$recipient" -o "$tmp/out" "$tmp/plain"
aenc_wall=$wall aenc_user=$user aenc_sys=$sys
mv "$tmp/out" "$tmp/cipher.age"
best_of age -d -i "$tmp/age.key" -o "$tmp/out" "$tmp/cipher.age"
adec_wall=$wall adec_user=$user adec_sys=$sys
rm -f "$tmp/out"

# "aes-256-gcm   <16 B> ... <65536 B>" in 1000s of bytes per second.
ossl_kbs=$(openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3 2>/dev/null |
	awk '$1 == "AES-256-GCM" || $1 == "aes-256-gcm" { v = $NF } END { sub(/k$/, "", v); print v }')
ossl_mbs=$(awk -v k="$ossl_kbs" 'BEGIN { printf "%.0f", k * 1000 / 1048576 }')

rate() { awk -v s=$size -v t="$1" 'BEGIN { printf "%.0f", s / t / 1048576 }'; }
pct() { awk -v s=$size -v t="$1" -v o="$ossl_mbs" 'BEGIN { printf "%.0f", s / t / 1048576 / o * 100 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat <<MD
Command: \`bench/fileenc.sh ${1:-build}\` ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),
$(openssl version | cut -d' ' -f1-2), $(age --version 2>/dev/null | head -1 | sed 's/^/age /'); 1 GiB of random bytes on tmpfs, best of $runs:
least wall time and least user CPU time, each over the runs).

Single-core ceiling: \`openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3\` = $ossl_mbs MiB/s.

| operation | wall s | user CPU s | sys CPU s | MiB/s per user CPU s | % of openssl | wall vs age |
|---|---|---|---|---|---|---|
| lambda encrypt | $lenc_wall | $lenc_user | $lenc_sys | $(rate $lenc_user) | $(pct $lenc_user) % | $(ratio $lenc_wall $aenc_wall)x |
| lambda decrypt | $ldec_wall | $ldec_user | $ldec_sys | $(rate $ldec_user) | $(pct $ldec_user) % | $(ratio $ldec_wall $adec_wall)x |
| age encrypt (X25519) | $aenc_wall | $aenc_user | $aenc_sys | $(rate $aenc_user) | $(pct $aenc_user) % | 1.00x |
| age decrypt (X25519) | $adec_wall | $adec_user | $adec_sys | $(rate $adec_user) | $(pct $adec_user) % | 1.00x |
MD
