#!/usr/bin/env bash
# Runs the facegate demo (make run): a local broker, demo frames from ../shared/faces,
# a few enrolled people, the web page on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/facegate
VAR=var
CFG=$VAR/demo.toml
mkdir -p "$VAR"
chmod 700 "$VAR"

# 1. A broker on loopback unless one already listens on 1883.
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
	printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >"$VAR/mosquitto.conf"
	mosquitto -c "$VAR/mosquitto.conf" -d
	for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
	echo "demo: started mosquitto on 127.0.0.1:1883 (stop it with: pkill -f 'mosquitto -c $VAR/mosquitto.conf')"
fi

# 2. The demo configuration, with a command key kept across runs.
[ -s "$VAR/demo-command-key" ] || (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR/demo-command-key")
FRAMES="$PWD/$VAR/demo-frames"
sed -e "s|@KEY@|$(cat "$VAR/demo-command-key")|" -e "s|@FRAMES@|$FRAMES|" scripts/demo.toml >"$CFG"
chmod 600 "$CFG"

# 3. Camera frames: enrolled people mixed with strangers and empty scenes.
if [ ! -d "$FRAMES" ]; then
	scripts/demo-frames.sh "$FRAMES"
fi

# 4. First start: enrol the demo people and set an admin password.
if [ -z "$("$BIN" people -config "$CFG" list 2>/dev/null | tail -n +2)" ]; then
	while read -r folder name files; do
		case "$folder" in ''|'#'*) continue ;; esac
		paths=()
		for f in $files; do paths+=("../shared/faces/$folder/$f"); done
		"$BIN" enrol -config "$CFG" -name "$name" "${paths[@]}" || true
	done <scripts/demo-enrol.txt
fi
if [ ! -s "$VAR/admin-password" ]; then
	(umask 077; od -An -tx1 -N9 /dev/urandom | tr -d ' \n' >"$VAR/admin-password")
	"$BIN" passwd -config "$CFG" -user admin <"$VAR/admin-password"
fi

cat <<EOM

  facegate demo
  web page:   http://127.0.0.1:8080   user: admin   password: $(cat "$VAR/admin-password")
  MQTT:       mosquitto_sub -h 127.0.0.1 -p 1883 -t 'facegate/demo-door/#' -v
  unlock:     $BIN cmd -config $CFG unlock -seconds 3
  entry log:  $BIN events -config $CFG -limit 20
  Ctrl-C stops the daemon (the relay is released).

EOM
exec "$BIN" run -config "$CFG"
