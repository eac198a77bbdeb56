package main

import (
	"context"
	"log/slog"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/health"
)

// assemble builds the daemon's parts. cleanup must be called on every path
// (it releases the relay) even when err is not nil.
func assemble(ctx context.Context, cfg config.Config, db *facedb.DB, h *health.Tracker, log *slog.Logger) (parts []subsystem, cleanup func(), err error) {
	cleanup = func() {}
	return parts, cleanup, nil
}
