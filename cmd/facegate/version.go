package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"gocv.io/x/gocv"
)

func init() {
	register(command{
		name:    "version",
		summary: "print version, commit, Go and OpenCV versions",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fmt.Fprintf(stdout, "facegate %s (commit %s, %s, OpenCV %s)\n", version, commit, runtime.Version(), gocv.OpenCVVersion())
			return nil
		},
	})
}
