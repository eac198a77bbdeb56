#!/usr/bin/env bash
# Builds the facegate arm64 .deb with nfpm.
#
# Usage: packaging/build-deb.sh BINARY DEB_VERSION OUTDIR
#   BINARY      the cross-built arm64 facegate (make cross)
#   DEB_VERSION Debian version, starting with a digit
#   OUTDIR      where facegate_<DEB_VERSION>_arm64.deb is written
# SYSROOT must be the bookworm arm64 sysroot (scripts/sysroot.sh); NFPM the nfpm
# command (default: go run of the pinned version, not a go.mod dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY DEB_VERSION OUTDIR" >&2
	exit 2
fi
bin="$1" version="$2" out="$3"
: "${SYSROOT:?SYSROOT must name the arm64 sysroot}"
NFPM="${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}"
if [[ ! "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
	echo "build-deb: bad Debian version $version" >&2
	exit 1
fi
for f in "$bin" facegate.example.toml docs/install-pi.md systemd/facegate.service; do
	[ -f "$f" ] || { echo "build-deb: $f is missing" >&2; exit 1; }
done

stage="$out/deb-stage"
rm -rf "$stage"
mkdir -p "$stage"
aarch64-linux-gnu-strip -o "$stage/facegate" "$bin"

# The packaged config is the example config with the Pi's paths and real GPIO.
# Each substitution must hit exactly one line, so a changed example fails here
# instead of shipping a config that points at ./var or simulated pins.
cfg="$stage/facegate.toml"
{
	echo "# /etc/facegate/facegate.toml: facegate on a Raspberry Pi (from the facegate .deb)."
	echo "# Edit, then: sudo systemctl restart facegate. Guide: /usr/share/doc/facegate/install-pi.md"
	echo
	cat facegate.example.toml
} >"$cfg"
subst() { # KEY REGEX REPLACEMENT-LINE
	local n
	n="$(grep -c "^$1 *= *" "$cfg" || true)"
	if [ "$n" != 1 ]; then
		echo "build-deb: facegate.example.toml has $n lines setting $1, want 1" >&2
		exit 1
	fi
	sed -i "s|^$1 *= *.*|$2|" "$cfg"
}
subst data_dir 'data_dir = "/var/lib/facegate"         # SQLite database (facegate.db) and snapshots/'
subst models_dir 'models_dir = "/var/lib/facegate/models" # the .onnx files, see install-pi.md "Models"'
subst gpio 'gpio = "periph"                   # real GPIO; "sim" simulates the pins'

mapfile -t deps < <(packaging/debdeps.sh "$SYSROOT" "$stage/facegate")
{
	sed -e "s|\${DEB_STAGE}|$stage|g" -e "s|\${DEB_VERSION}|$version|g" packaging/nfpm.yaml
	echo "depends:"
	echo "  - adduser"
	for d in "${deps[@]}"; do
		echo "  - \"$d\""
	done
} >"$stage/nfpm.yaml"

deb="$out/facegate_${version}_arm64.deb"
rm -f "$out"/facegate_*_arm64.deb # one package in OUTDIR: the one just built
$NFPM package --config "$stage/nfpm.yaml" --packager deb --target "$deb" >&2
echo "$deb"
