package systemd

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const (
	binPath    = "/usr/bin/facegate"
	configPath = "/etc/facegate/facegate.toml"
)

// parseUnit returns every Section.Key with its values in order (a key may be
// repeated, e.g. SystemCallFilter).
func parseUnit(t *testing.T, text string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("facegate.service line %d: not KEY=VALUE in a section: %q", n, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// stageUnit writes the unit into a temporary directory with the binary path
// pointing at an executable copy there (systemd-analyze verify checks that
// ExecStart's binary exists) and returns the unit's path.
func stageUnit(t *testing.T, edit func(string) string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatalf("systemd-analyze not installed (scripts/install-deps.sh test installs systemd): %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "facegate")
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(Unit, binPath+" ", bin+" ")
	if edit != nil {
		text = edit(text)
	}
	unit := filepath.Join(dir, "facegate.service")
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

func analyze(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("systemd-analyze", args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestUnitFileMatchesEmbedded(t *testing.T) {
	data, err := os.ReadFile("facegate.service")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != Unit {
		t.Fatal("systemd.Unit differs from facegate.service")
	}
}

// systemd-analyze verify accepts the unit without a single warning.
func TestUnitVerifies(t *testing.T) {
	unit := stageUnit(t, nil)
	out, errOut, err := analyze(t, "verify", "--man=no", unit)
	if err != nil || strings.TrimSpace(out+errOut) != "" {
		t.Fatalf("systemd-analyze verify: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
}

// The verification above is able to fail: a unit whose binary is missing, or
// with a misspelt directive, is reported.
func TestVerifyReportsBrokenUnits(t *testing.T) {
	cases := map[string]func(string) string{
		"missing binary": func(s string) string {
			return strings.Replace(s, "ExecStart=/", "ExecStart=/nonexistent/", 1)
		},
		"misspelt directive": func(s string) string {
			return strings.Replace(s, "WatchdogSec=", "WatchDogSecs=", 1)
		},
		"bad value": func(s string) string {
			return strings.Replace(s, "Restart=on-failure", "Restart=sometimes", 1)
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			unit := stageUnit(t, edit)
			out, errOut, err := analyze(t, "verify", "--man=no", unit)
			if err == nil && strings.TrimSpace(out+errOut) == "" {
				t.Fatalf("systemd-analyze verify accepted a broken unit silently")
			}
		})
	}
}

// What the daemon, the package and the install guide rely on.
func TestUnitContract(t *testing.T) {
	u := parseUnit(t, Unit)
	one := func(key string) string {
		t.Helper()
		v := u[key]
		if len(v) != 1 {
			t.Fatalf("%s: want exactly one value, got %q", key, v)
		}
		return v[0]
	}
	want := map[string]string{
		"Service.Type":            "notify",
		"Service.ExecStart":       binPath + " run -config " + configPath,
		"Service.ExecStopPost":    binPath + " door release -config " + configPath,
		"Service.Restart":         "on-failure",
		"Service.User":            "facegate",
		"Service.StateDirectory":  "facegate",
		"Service.ProtectSystem":   "strict",
		"Service.ProtectHome":     "yes",
		"Service.NoNewPrivileges": "yes",
		"Service.PrivateTmp":      "yes",
		"Install.WantedBy":        "multi-user.target",
	}
	for k, v := range want {
		if got := one(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	wd, err := strconv.Atoi(one("Service.WatchdogSec"))
	if err != nil || wd < 10 || wd > 120 {
		t.Errorf("WatchdogSec = %q: want whole seconds in 10..120", one("Service.WatchdogSec"))
	}
	groups := strings.Fields(one("Service.SupplementaryGroups"))
	for _, g := range []string{"gpio", "video"} {
		found := false
		for _, h := range groups {
			found = found || h == g
		}
		if !found {
			t.Errorf("SupplementaryGroups %q lacks %s", groups, g)
		}
	}
	// GPIO and camera devices must stay reachable.
	if v := u["Service.PrivateDevices"]; len(v) > 0 && v[len(v)-1] != "no" {
		t.Errorf("PrivateDevices=%s hides /dev/gpiomem, /dev/gpiochip* and /dev/video*", v[len(v)-1])
	}
	if v := u["Service.DevicePolicy"]; len(v) > 0 && v[len(v)-1] != "auto" {
		t.Errorf("DevicePolicy=%s blocks the GPIO and camera devices", v[len(v)-1])
	}
}

// systemd's own offline security review rates the unit's exposure "OK" or
// better (below 3.0 on its 0..10 scale; an unhardened service is 9.6).
func TestUnitExposure(t *testing.T) {
	unit := stageUnit(t, nil)
	score := exposure(t, unit)
	t.Logf("systemd-analyze security exposure: %.1f", score)
	if score >= 3.0 {
		t.Fatalf("exposure %.1f, want < 3.0", score)
	}
	// Without the hardening block the same review scores it far worse, so the
	// figure above measures this unit's directives.
	bare := stageUnit(t, func(s string) string {
		i := strings.Index(s, "NoNewPrivileges=")
		j := strings.Index(s, "[Install]")
		return s[:i] + s[j:]
	})
	if b := exposure(t, bare); b < score+3 {
		t.Fatalf("unhardened exposure %.1f is not clearly worse than %.1f", b, score)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

func exposure(t *testing.T, unit string) float64 {
	t.Helper()
	out, errOut, err := analyze(t, "security", "--offline=yes", "--no-pager", unit)
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s%s", err, out, errOut)
	}
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze security output:\n%s", out)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
