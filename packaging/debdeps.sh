#!/usr/bin/env bash
# Prints the Debian runtime dependencies of an arm64 ELF binary, one per line,
# e.g. "libopencv-core406 (>= 4.6.0+dfsg)", the way dpkg-shlibdeps derives them:
# every DT_NEEDED soname of the binary is looked up in the shlibs files of the
# bookworm arm64 packages in the sysroot (scripts/sysroot.sh registers them in
# SYSROOT/var/lib/dpkg/info). So the .deb's Depends follow what the binary
# really links, not a hand-kept list.
#
# Usage: packaging/debdeps.sh SYSROOT BINARY
set -euo pipefail
if [ $# -ne 2 ]; then
	echo "usage: $0 SYSROOT BINARY" >&2
	exit 2
fi
sysroot="$1" bin="$2"
info="$sysroot/var/lib/dpkg/info"
if ! compgen -G "$info/*.shlibs" >/dev/null; then
	echo "debdeps: no shlibs files in $info (make the sysroot with scripts/sysroot.sh)" >&2
	exit 1
fi
machine="$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')"
if [ "$machine" != AArch64 ]; then
	echo "debdeps: $bin is not an arm64 ELF binary (machine: ${machine:-none})" >&2
	exit 1
fi

mapfile -t needed < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
if [ "${#needed[@]}" -eq 0 ]; then
	echo "debdeps: $bin has no DT_NEEDED entries (static binary?)" >&2
	exit 1
fi

# All shlibs lines without a package-type prefix (udeb: lines are skipped):
# "LIBRARY VERSION DEPENDENCY".
shlibs="$(cat "$info"/*.shlibs | awk '$1 !~ /:$/ && NF >= 3')"

deps=()
for so in "${needed[@]}"; do
	# dpkg-shlibdeps' soname split: libfoo.so.1.2 -> "libfoo 1.2", libfoo-1.2.so -> "libfoo 1.2".
	if [[ "$so" =~ ^(.*)\.so\.(.*)$ ]]; then
		name="${BASH_REMATCH[1]}" ver="${BASH_REMATCH[2]}"
	elif [[ "$so" =~ ^(.*)-([0-9].*)\.so$ ]]; then
		name="${BASH_REMATCH[1]}" ver="${BASH_REMATCH[2]}"
	else
		echo "debdeps: cannot parse soname $so" >&2
		exit 1
	fi
	dep="$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$shlibs")"
	if [ -z "$dep" ]; then
		echo "debdeps: no bookworm arm64 package in $sysroot provides $so" >&2
		exit 1
	fi
	deps+=("$dep")
done
# One line per package; shlibs dependencies may list alternatives ("a | b").
printf '%s\n' "${deps[@]}" | sort -u
