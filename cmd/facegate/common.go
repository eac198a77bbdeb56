package main

import (
	"context"
	"errors"

	"io"
	"log/slog"
	"os"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

// loadConfig reads the configuration file; an empty path is an error because
// every command acts on one appliance's data.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Config{}, errors.New("-config FILE is required")
	}
	return config.Load(path)
}

// openDB opens the appliance's database.
func openDB(ctx context.Context, cfg config.Config) (*facedb.DB, error) {
	return facedb.Open(ctx, cfg.DBPath(), cfg.DeviceID)
}

// newLogger returns the daemon's logger: JSON under systemd (JOURNAL_STREAM
// set) or when log_format = "json", text otherwise.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "text"
		if os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != "" {
			format = "json"
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// configFlag defines the -config flag every appliance command takes.
func configFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("config", "", "configuration `FILE` (TOML)")
}
