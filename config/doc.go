// Package config loads facegate's TOML configuration file.
//
// Every key has a documented default (see Default and facegate.example.toml);
// unknown keys and bad values are refused with the file, the key and the
// reason, so a typo never silently changes how the door behaves.
package config
