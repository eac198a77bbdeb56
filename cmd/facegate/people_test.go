package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/testenv"
)

func TestPeopleCommand(t *testing.T) {
	cfg := visionConfig(t)
	if out, _, err := visionRun(t, "people", "-config", cfg, "list"); err != nil || !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Fatalf("empty list: %q, %v", out, err)
	}
	for _, p := range []struct{ name, folder, file string }{{"Alice", "df01", "img1.jpg"}, {"Bob", "df02", "img8.jpg"}} {
		if _, e, err := visionRun(t, "enrol", "-config", cfg, "-name", p.name, testenv.Face(t, p.folder, p.file)); err != nil {
			t.Fatalf("enrol %s: %v\n%s", p.name, err, e)
		}
	}
	if out, _, err := visionRun(t, "people", "-config", cfg, "disable", "1"); err != nil || out != "person 1 disabled\n" {
		t.Fatalf("disable: %q, %v", out, err)
	}
	list, _, _ := visionRun(t, "people", "-config", cfg)
	if !regexp.MustCompile(`(?m)^1\s+Alice\s+no\s+1\s+disabled\s`).MatchString(list) || !regexp.MustCompile(`(?m)^2\s+Bob\s+yes\s+1\s+active\s`).MatchString(list) || !regexp.MustCompile(`(?m)^2\s+Bob\s+yes\s+1\s`).MatchString(list) {
		t.Errorf("list after disable:\n%s", list)
	}
	out, _, err := visionRun(t, "people", "-config", cfg, "-json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["name"] != "Alice" || first["enabled"] != false || first["templates"] != float64(1) || first["status"] != "disabled" {
		t.Errorf("json list:\n%s", out)
	}
	if _, _, err := visionRun(t, "people", "-config", cfg, "enable", "1"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := visionRun(t, "people", "-config", cfg, "delete", "2"); err != nil || !strings.Contains(out, `person 2 "Bob" deleted`) {
		t.Fatalf("delete: %q, %v", out, err)
	}
	list, _, _ = visionRun(t, "people", "-config", cfg)
	if strings.Contains(list, "Bob") || !regexp.MustCompile(`(?m)^1\s+Alice\s+yes`).MatchString(list) {
		t.Errorf("list after enable 1, delete 2:\n%s", list)
	}
	if _, _, err := visionRun(t, "people", "-config", cfg, "delete", "2"); err == nil || !strings.Contains(err.Error(), "no person with id 2") {
		t.Errorf("deleting a missing person: %v", err)
	}
	for _, bad := range [][]string{{"disable"}, {"disable", "x"}, {"frobnicate"}, {"enable", "1", "2"}} {
		if _, _, err := visionRun(t, append([]string{"people", "-config", cfg}, bad...)...); exitCode(err) != 2 {
			t.Errorf("people %v: %v, want a usage error", bad, err)
		}
	}
}
