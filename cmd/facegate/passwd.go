package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/web"
)

// passwdInput is where `facegate passwd` reads the password (tests replace it).
var passwdInput io.Reader = os.Stdin

func init() {
	register(command{
		name:    "passwd",
		summary: "set the password of a web page user (read from stdin)",
		run:     runPasswd,
	})
}

func runPasswd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("passwd", stderr)
	cfgPath := configFlag(fs)
	user := fs.String("user", "admin", "web user `NAME` (created if missing)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facegate passwd -config FILE [-user NAME] < password\n\nReads the new password from standard input (without echo on a terminal).")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "facegate passwd: unexpected argument %q (the password is read from stdin)\n", pos[0])
		return errUsage
	}
	name := strings.TrimSpace(*user)
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		fmt.Fprintf(stderr, "facegate passwd: -user %q must be a non-empty name without spaces\n", *user)
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	pw, err := readPassword(passwdInput, stderr)
	if err != nil {
		return err
	}
	hash, err := web.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetUserPassword(ctx, name, hash); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if err := db.Audit(ctx, facedb.AuditEntry{Actor: "cli", Action: "passwd", Target: name, OK: true}); err != nil {
		fmt.Fprintf(stderr, "facegate passwd: warning: audit failed: %v\n", err)
	}
	fmt.Fprintf(stdout, "password set for web user %s\n", name)
	return nil
}

// readPassword reads one line; on a terminal it prompts twice without echo.
func readPassword(r io.Reader, stderr io.Writer) (string, error) {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("passwd: reading password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("passwd: reading password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("passwd: the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("passwd: reading password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("passwd: no password on standard input")
	}
	return line, nil
}
