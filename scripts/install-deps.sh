#!/usr/bin/env bash
# Installs, idempotently, the Debian packages facegate needs to build, run and test.
# Usage: scripts/install-deps.sh [run|test]
#   run  : what `make run` needs (OpenCV, mosquitto)
#   test : additionally what the tests need (Chromium, systemd-analyze, the arm64 cross tool chain)
set -euo pipefail
mode="${1:-test}"

pkgs=(build-essential pkg-config libopencv-dev mosquitto mosquitto-clients ca-certificates
	gstreamer1.0-plugins-base) # videoconvert, appsink, videotestsrc for gst: camera sources and their test
if [ "$mode" = test ]; then
	pkgs+=(chromium fonts-dejavu-core systemd sqlite3 procps openssl
		gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static mmdebstrap dpkg-dev
		binutils-aarch64-linux-gnu adduser)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
