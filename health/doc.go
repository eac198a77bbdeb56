// Package health tracks the health of facegate's components (camera,
// database, mqtt, web, storage) for /healthz and the MQTT state topic. The
// systemd watchdog does not read it: it follows the camera loop's progress
// (cmd/facegate/run.go).
package health
