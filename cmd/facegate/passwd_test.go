package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/facedb"
)

func runPasswdWith(t *testing.T, input string, args ...string) (string, string, error) {
	t.Helper()
	old := passwdInput
	passwdInput = strings.NewReader(input)
	defer func() { passwdInput = old }()
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), append([]string{"passwd"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

func userHash(t *testing.T, dataDir, user string) (string, error) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	db, err := facedb.Open(context.Background(), cfg.DBPath(), cfg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.UserHash(context.Background(), user)
}

func TestPasswdSetsAndChangesPassword(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "var")
	cfgPath := writeConfig(t, dir, fmt.Sprintf("data_dir = %q\n", data))

	out, _, err := runPasswdWith(t, "first-password\n", "-config", cfgPath, "-user", "staff")
	if err != nil {
		t.Fatalf("passwd: %v", err)
	}
	if !strings.Contains(out, "password set for web user staff") {
		t.Errorf("stdout = %q", out)
	}
	h, err := userHash(t, data, "staff")
	if err != nil {
		t.Fatalf("user not stored: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("first-password")) != nil {
		t.Fatal("stored hash does not verify the password")
	}

	// A second run changes it: the old password stops working.
	if _, _, err := runPasswdWith(t, "second-password\r\n", "-config", cfgPath, "-user", "staff"); err != nil {
		t.Fatalf("passwd again: %v", err)
	}
	h, _ = userHash(t, data, "staff")
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("first-password")) == nil {
		t.Error("old password still accepted")
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("second-password")) != nil {
		t.Error("new password (CRLF line) not accepted")
	}
}

func TestPasswdRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "var")
	cfgPath := writeConfig(t, dir, fmt.Sprintf("data_dir = %q\n", data))
	for _, tc := range []struct{ name, input, want string }{
		{"empty", "", "no password"},
		{"short", "abc\n", "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runPasswdWith(t, tc.input, "-config", cfgPath, "-user", "admin")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := userHash(t, data, "admin"); !errors.Is(err, facedb.ErrNotFound) {
		t.Errorf("a refused password created the user: err = %v", err)
	}
	if _, _, err := runPasswdWith(t, "long-enough\n", "-user", "admin"); err == nil {
		t.Error("passwd without -config succeeded")
	}
}
