// Package health tracks the health of facegate's components (camera,
// database, mqtt, door) for /healthz, the MQTT state topic and the systemd
// watchdog.
package health
