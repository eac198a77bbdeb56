package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/testenv"
)

// visionConfig writes a configuration with a fresh data_dir and the shared models.
func visionConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "facegate.toml")
	body := "data_dir = " + quoteTOML(filepath.Join(dir, "var")) + "\nmodels_dir = " + quoteTOML(testenv.ModelsDir(t)) + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quoteTOML(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// visionRun runs one facegate command line in-process.
func visionRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if os.Getenv("OPENCV_LOG_LEVEL") == "" {
		t.Setenv("OPENCV_LOG_LEVEL", "ERROR")
	}
	var o, e bytes.Buffer
	err = dispatch(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestEnrolByName(t *testing.T) {
	cfg := visionConfig(t)
	noface := testenv.Face(t, "_noface", "fruits.jpg")
	multi := testenv.Face(t, "_multiface", "couple.jpg")
	out, errOut, err := visionRun(t, "enrol", "-config", cfg, "-name", "Alice",
		testenv.Face(t, "df01", "img1.jpg"), noface, testenv.Face(t, "df01", "img2.jpg"), multi)
	if err != nil {
		t.Fatalf("enrol: %v\n%s", err, errOut)
	}
	if !regexp.MustCompile(`^\d+\n$`).MatchString(out) {
		t.Errorf("enrol printed %q, want the new person id", out)
	}
	for _, want := range []string{noface + ": refused: vision: no face", multi + ": refused: vision: several faces: 2 faces"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	list, _, err := visionRun(t, "people", "-config", cfg)
	if err != nil || !regexp.MustCompile(`(?m)^1\s+Alice\s+yes\s+2\s`).MatchString(list) {
		t.Errorf("people list after enrolment (%v):\n%s", err, list)
	}

	// Every image refused: non-zero exit, each file named, no person created.
	_, errOut, err = visionRun(t, "enrol", "-config", cfg, "-name", "Ghost", noface, multi)
	if err == nil || exitCode(err) == 0 {
		t.Fatalf("enrol with only refused images succeeded:\n%s", errOut)
	}
	if !strings.Contains(errOut, noface) || !strings.Contains(errOut, multi) {
		t.Errorf("refusals do not name the files:\n%s", errOut)
	}
	list, _, _ = visionRun(t, "people", "-config", cfg)
	if strings.Contains(list, "Ghost") {
		t.Errorf("refused person was created:\n%s", list)
	}

	// A face that already matches Alice: enrolled, with a warning.
	out, errOut, err = visionRun(t, "enrol", "-config", cfg, "-name", "Alias", testenv.Face(t, "df01", "img4.jpg"))
	if err != nil || strings.TrimSpace(out) != "2" {
		t.Fatalf("enrol Alias: %q, %v\n%s", out, err, errOut)
	}
	if !regexp.MustCompile(`warning: .*img4\.jpg already matches person 1 "Alice" \(score 0\.\d+\)`).MatchString(errOut) {
		t.Errorf("no duplicate warning naming Alice:\n%s", errOut)
	}

	// Usage errors.
	if _, _, err := visionRun(t, "enrol", "-config", cfg, "-name", "X"); exitCode(err) != 2 {
		t.Errorf("enrol without images: %v, want a usage error", err)
	}
	if _, _, err := visionRun(t, "enrol", "-config", cfg, "-name", "X", "-dir", "."); exitCode(err) != 2 {
		t.Errorf("enrol with -name and -dir: %v, want a usage error", err)
	}
}

func TestEnrolDir(t *testing.T) {
	cfg := visionConfig(t)
	tree := t.TempDir()
	link := func(person, folder, file string) {
		d := filepath.Join(tree, person)
		os.MkdirAll(d, 0o755)
		if err := os.Symlink(testenv.Face(t, folder, file), filepath.Join(d, file)); err != nil {
			t.Fatal(err)
		}
	}
	link("Alice", "df01", "img1.jpg")
	link("Alice", "df01", "img2.jpg")
	link("Alice", "_noface", "fruits.jpg")
	link("Howard", "bbt_howard", "howard1.png")
	link("_skipped", "df02", "img8.jpg")
	link("Nobody", "_noface", "baboon.jpg")
	os.WriteFile(filepath.Join(tree, "Alice", "notes.txt"), []byte("not an image"), 0o644)

	out, errOut, err := visionRun(t, "enrol", "-config", cfg, "-dir", tree)
	if err == nil || !strings.Contains(err.Error(), "Nobody") {
		t.Fatalf("enrol -dir with a person whose images are all refused: %v, want an error naming Nobody", err)
	}
	if !regexp.MustCompile(`(?m)^\d+\tAlice\t2 template\(s\)$`).MatchString(out) || !regexp.MustCompile(`(?m)^\d+\tHoward\t1 template\(s\)$`).MatchString(out) {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "fruits.jpg: refused") || !strings.Contains(errOut, "baboon.jpg: refused") {
		t.Errorf("stderr lacks the refusals:\n%s", errOut)
	}
	if !strings.Contains(errOut, "enrol") || !strings.Contains(errOut, "%") {
		t.Errorf("no progress bar on stderr:\n%s", errOut)
	}
	list, _, _ := visionRun(t, "people", "-config", cfg)
	if strings.Contains(list, "_skipped") || strings.Contains(list, "Nobody") || !strings.Contains(list, "Howard") {
		t.Errorf("people after enrol -dir:\n%s", list)
	}
}

// TestEnrolRefusesTruncatedAndWarnsOnLookalikeName: the command line goes
// through the same photo and name rules as the web page.
func TestEnrolRefusesTruncatedAndWarnsOnLookalikeName(t *testing.T) {
	cfg := visionConfig(t)
	dir := t.TempDir()
	full, err := os.ReadFile(testenv.Face(t, "df01", "img1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.jpg")
	os.WriteFile(cut, full[:len(full)/2], 0o644)
	_, errOut, err := visionRun(t, "enrol", "-config", cfg, "-name", "Ada", cut)
	if err == nil || !strings.Contains(errOut, "cut.jpg") || !strings.Contains(errOut, "incomplete") {
		t.Fatalf("truncated JPEG: err %v, stderr %q", err, errOut)
	}
	if _, _, err := visionRun(t, "enrol", "-config", cfg, "-name", "Ada\u202eecalevoL", testenv.Face(t, "df01", "img1.jpg")); err == nil || !strings.Contains(err.Error(), "bidirectional") {
		t.Fatalf("bidi override in the name: %v", err)
	}
	if _, e, err := visionRun(t, "enrol", "-config", cfg, "-name", "Ada Lovelace", testenv.Face(t, "df01", "img1.jpg")); err != nil {
		t.Fatalf("enrol: %v\n%s", err, e)
	}
	_, errOut, err = visionRun(t, "enrol", "-config", cfg, "-name", "ada lovelace", testenv.Face(t, "df02", "img8.jpg"))
	if err != nil || !strings.Contains(errOut, `looks like person 1 "Ada Lovelace"`) {
		t.Fatalf("look-alike name: err %v, stderr %q", err, errOut)
	}
}
