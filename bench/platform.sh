#!/bin/bash
# Platform benchmarks (issue: single-node platform), all in one run on one
# machine, written to stdout as Markdown for docs/benchmarks.md:
#  1. create-to-running latency of `lambda create instance` (median of 20),
#  2. GET /v1/instances/ID requests per second over TLS 1.3 with wrk,
#     against nginx serving a static JSON body of the same size over TLS 1.3
#     with the same two suites (the ceiling),
#  3. lambdad's resident memory idle and with 100 instances recorded.
# Usage: bench/platform.sh BUILD_DIR
set -euo pipefail
build=$(realpath "${1:-build}")
lambda="$build/cli/lambda"
tmp=$(mktemp -d /tmp/lambda-bench.XXXXXX)
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_DATA_HOME="$tmp/home/.local/share"
mkdir -p "$HOME"
port=$((20000 + RANDOM % 20000))
nginx_port=$((port + 1))
data="$tmp/data"
nginx_pid=""
cleanup() {
	"$lambda" down --data-dir "$data" >/dev/null 2>&1 || true
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$lambda" key generate --name bench --output "$tmp/key.pem" >/dev/null
"$lambda" up --data-dir "$data" --listen "127.0.0.1:$port" --max-instances 200 >/dev/null
pid=$(cat "$data/lambdad.pid")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
sleep 1
rss_idle=$(rss)

# 1. create-to-running latency, median of 20 (the CLI returns once running).
lat=()
for i in $(seq 20); do
	t0=$(date +%s%N)
	"$lambda" create instance --type compute-1x --region local --encryption-key "$tmp/key.pem" \
		--volume-size 32M -- /bin/sleep 600 >/dev/null
	t1=$(date +%s%N)
	lat+=($(( (t1 - t0) / 1000000 )))
done
median=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
min=$(printf '%s\n' "${lat[@]}" | sort -n | head -1)
max=$(printf '%s\n' "${lat[@]}" | sort -n | tail -1)

# 2. requests per second: lambdad vs nginx, same body size, same suites.
id=$("$lambda" list instances --json | sed -n 's/.*"id": *"\(inst_[0-9a-f]*\)".*/\1/p' | head -1)
token=$(sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$XDG_CONFIG_HOME/lambda/config.json")
ca=$(sed -n 's/.*"ca_file": *"\([^"]*\)".*/\1/p' "$XDG_CONFIG_HOME/lambda/config.json")
curl -s --cacert "$ca" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/v1/instances/$id" > "$tmp/body.json"
body_size=$(stat -c %s "$tmp/body.json")
mkdir -p "$tmp/nginx/v1/instances"
cp "$tmp/body.json" "$tmp/nginx/v1/instances/$id"
cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/json;
	server {
		listen 127.0.0.1:$nginx_port ssl;
		ssl_certificate $data/server.pem;
		ssl_certificate_key $data/server.key;
		ssl_protocols TLSv1.3;
		ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
		root $tmp/nginx;
	}
}
NGINX
nginx -c "$tmp/nginx.conf" -p "$tmp" &
nginx_pid=$!
sleep 1
# Both servers must speak TLS 1.3 with our two suites only: the suite each
# negotiates by default, and a handshake offering only another suite that
# must fail (printed as "refused").
suite() { # suite PORT [s_client options...]
	local p=$1
	shift
	openssl s_client -connect "127.0.0.1:$p" -CAfile "$ca" "$@" </dev/null 2>/dev/null |
		awk '/^ *(New|Protocol|Cipher) *[:,]/ {print}' | grep -o 'TLS[_v][A-Za-z0-9_.]*' | sort -u | tr '\n' ' '
}
refused() { # refused PORT SUITE: "refused" when a handshake offering only SUITE fails
	if openssl s_client -connect "127.0.0.1:$1" -CAfile "$ca" -ciphersuites "$2" </dev/null >/dev/null 2>&1; then
		echo "ACCEPTED"
	else
		echo "refused"
	fi
}
tls_lambda="$(suite "$port") / ChaCha20 $(suite "$port" -ciphersuites TLS_CHACHA20_POLY1305_SHA256 | grep -q CHACHA && echo accepted) / AES-128-GCM $(refused "$port" TLS_AES_128_GCM_SHA256) / TLS 1.2 $(
	openssl s_client -connect "127.0.0.1:$port" -CAfile "$ca" -tls1_2 </dev/null >/dev/null 2>&1 && echo ACCEPTED || echo refused)"
tls_nginx="$(suite "$nginx_port") / ChaCha20 $(suite "$nginx_port" -ciphersuites TLS_CHACHA20_POLY1305_SHA256 | grep -q CHACHA && echo accepted) / AES-128-GCM $(refused "$nginx_port" TLS_AES_128_GCM_SHA256) / TLS 1.2 $(
	openssl s_client -connect "127.0.0.1:$nginx_port" -CAfile "$ca" -tls1_2 </dev/null >/dev/null 2>&1 && echo ACCEPTED || echo refused)"
hdr="Authorization: Bearer $token"
run_wrk() { wrk -t1 -c32 -d10s -H "$hdr" "$1" | awk '/Requests\/sec/ {print $2}'; }
rps_lambda=$(run_wrk "https://127.0.0.1:$port/v1/instances/$id")
rps_nginx=$(run_wrk "https://127.0.0.1:$nginx_port/v1/instances/$id")

# 3. memory with 100 instances recorded (80 more, short-lived).
for i in $(seq 80); do
	"$lambda" create instance --type compute-1x --region local --encryption-key "$tmp/key.pem" \
		--volume-size 32M -- /bin/true >/dev/null
done
rss_100=$(rss)

ratio=$(awk -v a="$rps_lambda" -v b="$rps_nginx" 'BEGIN {printf "%.2f", a / b}')
cat <<OUT
| figure | result | goal |
|---|---|---|
| create-to-running latency, median of 20 (min, max) | $median ms ($min, $max) | < 150 ms |
| GET /v1/instances/ID, lambdad, wrk -t1 -c32 -d10s | $rps_lambda req/s | >= 1/4 of nginx |
| same body ($body_size bytes) from nginx, same TLS 1.3 suites | $rps_nginx req/s | ceiling |
| lambdad / nginx | $ratio | >= 0.25 |
| TLS negotiated by lambdad (default / ChaCha20 only / AES-128-GCM only / TLS 1.2) | $tls_lambda | TLS 1.3, two suites |
| TLS negotiated by nginx (default / ChaCha20 only / AES-128-GCM only / TLS 1.2) | $tls_nginx | the same |
| lambdad resident memory, idle | $((rss_idle / 1024)) MiB ($rss_idle KiB) | < 32 MiB |
| lambdad resident memory, 100 instances recorded | $((rss_100 / 1024)) MiB ($rss_100 KiB) | < 32 MiB |
OUT
