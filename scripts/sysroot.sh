#!/usr/bin/env bash
# Makes (or reuses) a Debian bookworm arm64 sysroot for cross-building and
# emulated testing of facegate, and prints its absolute path on stdout.
#
# Usage: scripts/sysroot.sh [DIR]      (default: ${XDG_CACHE_HOME:-$HOME/.cache}/facegate/sysroot-bookworm-arm64)
#
# The sysroot is an mmdebstrap "extract" of the -dev packages facegate links
# (OpenCV 4.6, SQLite) plus libc/libstdc++, so the runtime libraries that a
# Raspberry Pi OS bookworm 64-bit install has are in it too. It is cached: a
# stamp file records the package list and apt sources it was made from, and the
# sysroot is rebuilt only when the stamp is missing or differs. A half-made
# sysroot (interrupted run) has no stamp and is made again.
#
# The apt sources are the machine's own bookworm, bookworm-updates and
# bookworm-security "main" entries from /etc/apt/sources.list.d/ (deb822
# *.sources or one-line *.list files) and /etc/apt/sources.list, so a machine
# pinned to a snapshot or a local mirror gets the same packages for arm64.
set -euo pipefail
cd "$(dirname "$0")/.."

include=libopencv-dev,libsqlite3-dev,libc6-dev,libstdc++-12-dev

# An extract leaves dpkg's database empty. register_debs ROOT fills
# ROOT/var/lib/dpkg/status and the packages' shlibs and symbols files from the
# .deb files mmdebstrap downloaded, so `dpkg-query --admindir=ROOT/var/lib/dpkg`
# knows the bookworm arm64 package versions, and the shlibs files map a
# library's soname to the package (and minimum version) that provides it, as
# dpkg-shlibdeps does. File lists are not written: listing every data.tar
# would cost minutes. mmdebstrap calls this as an --extract-hook, while the
# .debs are still there.
register_debs() {
	local root="$1" db="$1/var/lib/dpkg" deb ctl pkg arch name
	mkdir -p "$db/info"
	echo 1 >"$db/info/format" # multiarch layout: pkg:arch.*
	: >"$db/status"
	ctl="$(mktemp -d)"
	for deb in "$root"/var/cache/apt/archives/*.deb; do
		rm -rf "${ctl:?}"/*
		dpkg-deb -e "$deb" "$ctl"
		pkg="$(sed -n 's/^Package: //p' "$ctl/control")"
		arch="$(sed -n 's/^Architecture: //p' "$ctl/control")"
		name="$pkg"
		if grep -qx 'Multi-Arch: same' "$ctl/control"; then
			name="$pkg:$arch"
		fi
		{
			echo "Package: $pkg"
			echo "Status: install ok installed"
			grep -v '^Package:' "$ctl/control"
			echo
		} >>"$db/status"
		for f in shlibs symbols; do
			if [ -f "$ctl/$f" ]; then cp "$ctl/$f" "$db/info/$name.$f"; fi
		done
	done
	rm -rf "$ctl"
}
if [ "${1:-}" = --register-debs ]; then
	register_debs "$2"
	exit 0
fi

dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/facegate/sysroot-bookworm-arm64}"
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"

# mirrors prints one "deb URI SUITE main" line per bookworm* suite found in the
# machine's apt sources, keeping the first URI seen for each suite.
mirrors() {
	{
		shopt -s nullglob
		for f in /etc/apt/sources.list.d/*.sources; do
			awk '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/) {
						n = split(suites, s, " "); m = split(uris, u, " ")
						for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[j], s[i]
					}
					types = ""; uris = ""; suites = ""; comps = ""; enabled = 1
				}
				/^[ \t]*$/ { flush(); next }
				/^[ \t]*#/ { next }
				tolower($1) == "types:" { $1 = ""; types = $0 }
				tolower($1) == "uris:" { $1 = ""; uris = $0 }
				tolower($1) == "suites:" { $1 = ""; suites = $0 }
				tolower($1) == "components:" { $1 = ""; comps = $0 }
				tolower($1) == "enabled:" && tolower($2) == "no" { types = "" }
				END { flush() }
			' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# deb [opts] URI SUITE COMPONENTS...
			sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
				awk '$1 == "deb" { for (i = 4; i <= NF; i++) if ($i == "main") { print $2, $3; break } }'
		done
	} | awk '$2 ~ /^bookworm(-updates|-security)?$/ && !seen[$2]++ { print "deb " $1 " " $2 " main" }'
}

mapfile -t sources < <(mirrors)
if [ "${#sources[@]}" -eq 0 ]; then
	echo "sysroot: no bookworm main sources found in /etc/apt/sources.list.d/ or /etc/apt/sources.list" >&2
	exit 1
fi
if ! printf '%s\n' "${sources[@]}" | grep -q ' bookworm main$'; then
	echo "sysroot: the apt sources have no plain 'bookworm main' suite: ${sources[*]}" >&2
	exit 1
fi

want="$(printf 'include=%s\ndpkg-db=2\n' "$include"; printf '%s\n' "${sources[@]}")"
stamp="$dir/.facegate-sysroot"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "$dir"
	exit 0
fi

for tool in mmdebstrap; do
	command -v "$tool" >/dev/null || { echo "sysroot: $tool is not installed (run scripts/install-deps.sh test)" >&2; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "sysroot: mmdebstrap --mode=root needs root" >&2
	exit 1
fi

echo "sysroot: making $dir from: ${sources[*]}" >&2
tmp="$dir.tmp.$$"
# --one-file-system: never descend into a mount mmdebstrap left behind (/dev/pts, /dev/shm).
rm -rf --one-file-system "$tmp"
trap 'rm -rf --one-file-system "$tmp"' EXIT
start=$SECONDS
# The two links stand in for update-alternatives, which an extract never runs;
# without them the linker cannot find libblas.so.3/liblapack.so.3 for OpenCV.
mmdebstrap --mode=root --variant=extract --arch=arm64 --quiet \
	--aptopt='APT::Install-Recommends "false"' \
	--include="$include" \
	--extract-hook='ln -sf blas/libblas.so.3 "$1/usr/lib/aarch64-linux-gnu/libblas.so.3"' \
	--extract-hook='ln -sf lapack/liblapack.so.3 "$1/usr/lib/aarch64-linux-gnu/liblapack.so.3"' \
	--extract-hook="\"$PWD/scripts/sysroot.sh\" --register-debs \"\$1\"" \
	bookworm "$tmp" "${sources[@]}" >&2
printf '%s\n' "$want" >"$tmp/.facegate-sysroot"
rm -rf --one-file-system "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "sysroot: ready in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1))" >&2
echo "$dir"
