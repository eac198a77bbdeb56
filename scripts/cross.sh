#!/usr/bin/env bash
# Runs a go command cross-compiling for linux/arm64 (Raspberry Pi 4B, Raspberry
# Pi OS bookworm 64-bit) with cgo against the Debian bookworm arm64 sysroot.
#
# Usage: scripts/cross.sh GO-SUBCOMMAND [ARGS...]
#   scripts/cross.sh build -o bin/linux-arm64/facegate ./cmd/facegate
#   scripts/cross.sh test -count=1 ./facedb/     (binaries run under qemu-aarch64-static)
#
# SYSROOT may be set; otherwise scripts/sysroot.sh makes or reuses the cached one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SYSROOT:-}" ]; then
	SYSROOT="$(scripts/sysroot.sh)"
fi
if [ ! -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/opencv4.pc" ]; then
	echo "cross: $SYSROOT is not an arm64 sysroot with OpenCV (no opencv4.pc)" >&2
	exit 1
fi
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64-static pkg-config; do
	command -v "$tool" >/dev/null || { echo "cross: $tool is not installed (run scripts/install-deps.sh test)" >&2; exit 1; }
done

export GOOS=linux GOARCH=arm64 CGO_ENABLED=1
export CC="aarch64-linux-gnu-gcc --sysroot=$SYSROOT"
export CXX="aarch64-linux-gnu-g++ --sysroot=$SYSROOT"
export PKG_CONFIG_SYSROOT_DIR="$SYSROOT"
export PKG_CONFIG_LIBDIR="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig"
export PKG_CONFIG_PATH=
export SYSROOT
sub="$1"
shift
case "$sub" in
test | run)
	# The arm64 binaries run through user-mode emulation; -L makes qemu load
	# the dynamic linker and the shared libraries from the sysroot.
	exec "${GO:-go}" "$sub" -exec "qemu-aarch64-static -L $SYSROOT" "$@"
	;;
*)
	exec "${GO:-go}" "$sub" "$@"
	;;
esac
