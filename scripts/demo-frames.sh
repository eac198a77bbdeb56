#!/usr/bin/env bash
# Fills OUTDIR with the demo camera playlist: ordered symlinks (0001_df01_img1.jpg, ...) to images of
# ../shared/faces that mix the people enrolled by scripts/demo-enrol.txt with strangers and empty scenes,
# and frames of ../shared/liveness: two people live, a printed photo of one and a phone replay of the other.
# Each image is repeated so a person stays in view for several frames (the K-of-N rule needs 3 of 5).
# Usage: scripts/demo-frames.sh OUTDIR   (FACES=/path/to/faces overrides ../shared/faces)
set -euo pipefail
out="${1:?usage: scripts/demo-frames.sh OUTDIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
faces="${FACES:-$root/../shared/faces}"
faces="$(cd "$faces" && pwd)" || { echo "demo-frames: face set $faces not found" >&2; exit 1; }
mkdir -p "$out"
find "$out" -maxdepth 1 -type l -name '[0-9]*_*' -delete

n=0
# add REPEAT FOLDER FILE...: each file REPEAT times in a row
add() {
	local repeat="$1" folder="$2"
	shift 2
	local f i
	for f in "$@"; do
		[ -e "$faces/$folder/$f" ] || { echo "demo-frames: missing $faces/$folder/$f" >&2; exit 1; }
		for ((i = 0; i < repeat; i++)); do
			n=$((n + 1))
			ln -s "$faces/$folder/$f" "$out/$(printf '%04d' "$n")_${folder##*/}_${f}"
		done
	done
}

add 2 df01 img1.jpg img6.jpg img10.jpg img11.jpg                       # enrolled: Alice
add 2 _noface home.jpg building.jpg                                    # empty scene
add 2 df03 img16.jpg img17.jpg img61.jpg img59.jpg                     # stranger
add 2 df02 img8.jpg img48.jpg img50.jpg img49.jpg                      # enrolled: Bob
add 2 _noface fruits.jpg                                               # empty scene
add 2 ../liveness/live nuaa_0002_0002_01_00_01_116.jpg nuaa_0002_0002_01_00_01_200.jpg nuaa_0002_0002_01_00_01_441.jpg # enrolled: Nadia
add 2 ../liveness/print nuaa_0002_0002_01_02_03_53.jpg nuaa_0002_0002_01_08_03_325.jpg # a printed photo of Nadia: spoof_detected
add 2 bbt_howard howard1.png howard2.png howard3.png howard4.png       # stranger
add 2 _noface baboon.jpg                                               # an animal face is not a person
add 3 df07 img24.jpg img25.jpg                                         # stranger
add 2 ../liveness/live gh-Apfol_149.png gh-Apfol_64.png                 # enrolled: Pat
add 2 ../liveness/replay gh-Apfol_246.png gh-Apfol_369.png gh-Apfol_430.png # Pat's face replayed on a phone: spoof_detected
add 2 df02 img49.jpg img50.jpg img8.jpg                                # Bob again
echo "demo-frames: $n frames in $out"
