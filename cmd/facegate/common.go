package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
)

// loadConfig reads the configuration file; an empty path is an error because
// every command acts on one appliance's data.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Config{}, errors.New("-config FILE is required")
	}
	return config.Load(path)
}

// openDB opens the appliance's database. Its errors name data_dir (and the
// configuration file setting it) as well as the database file, so "file is
// not a database", a directory in its place or a read-only filesystem point
// at the key to fix.
func openDB(ctx context.Context, cfg config.Config) (*facedb.DB, error) {
	db, err := facedb.Open(ctx, cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		file := cfg.File
		if file == "" {
			file = "the defaults"
		}
		return nil, fmt.Errorf("database %s (data_dir %q, set in %s): %w", cfg.DBPath(), cfg.DataDir, file, err)
	}
	return db, nil
}

// enrolService is the enrolment service every command uses, with the
// configured duplicate warning; g, if not nil, gives the gallery to check
// duplicates against (the camera loop's in the daemon: one gallery).
func enrolService(cfg config.Config, p *vision.Pipeline, db *facedb.DB, g enrol.Gallery) *enrol.Service {
	o := enrol.Options{Gallery: g}
	if cfg.Recognition.DuplicateWarn {
		o.DuplicateThreshold = cfg.Recognition.Threshold
	}
	return enrol.New(p, db, o)
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
