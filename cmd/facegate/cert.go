package main

import (
	"context"
	"fmt"
	"io"

	"github.com/facegate/facegate/web"
)

func init() {
	register(command{
		name:    "cert",
		summary: "print the web page's HTTPS certificate and its SHA-256 fingerprint (generating the self-signed one if missing)",
		run:     runCert,
	})
}

func runCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cert", stderr)
	cfgPath := configFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facegate cert -config FILE")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	c, err := web.LoadCert(cfg)
	if err != nil {
		return err
	}
	if !web.UsesTLS(cfg.Web) {
		fmt.Fprintf(stdout, "note: web.listen %q is served over plain HTTP (loopback or web.plain_http); this certificate is used once the page listens beyond loopback\n", cfg.Web.Listen)
	}
	if c.Generated {
		fmt.Fprintln(stdout, "generated a new self-signed certificate")
	}
	fmt.Fprint(stdout, c.Describe())
	return nil
}
