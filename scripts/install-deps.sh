#!/bin/sh
# Installs the Debian 12 packages that building, running, testing and
# benchmarking lambda need. Installs only what is missing; needs root.
set -eu

PACKAGES="
	make build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
	libssl-dev libevent-dev libcurl4-openssl-dev libjansson-dev libcmocka-dev
	libsqlite3-dev libcryptsetup-dev libseccomp-dev libcap-dev libfuse3-dev
	openssl sqlite3 ca-certificates git curl
	bubblewrap cryptsetup-bin e2fsprogs fuse3 util-linux procps iproute2 kmod
	swtpm swtpm-tools tpm2-tools libtss2-dev wireguard-go wireguard-tools
	wrk nginx-light age jq python3-cryptography
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# nginx-light's post-install starts a server on port 80 where a service
# manager exists; the benchmark starts its own instance, so keep it from
# starting (policy-rc.d is the Debian way to say so) and restore after.
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ $had_policy = 1 ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get install -y -q --no-install-recommends $missing
[ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
