package mqttlink

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// TestShellSigningRecipe runs the shell recipe of docs/mqtt.md (openssl +
// mosquitto-clients) against a live link: the documented way must work.
func TestShellSigningRecipe(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "docs", "mqtt.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- signing-recipe")
	if !ok {
		t.Fatal("docs/mqtt.md has no signing-recipe marker")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("signing recipe block not closed")
	}

	b := testenv.StartBroker(t)
	r := startRig(t, testConfig(b.URL, 5), nil)
	testenv.WaitFor(t, "connect", 10*time.Second, func() bool { return r.link.Status().Connected })
	cmd := exec.Command("bash", "-euc", script)
	cmd.Env = append(os.Environ(), "KEY="+testKey, "P="+prefix, "HOST=127.0.0.1", "PORT="+itoa(b.Port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("recipe failed: %v\n%s", err, out)
	}
	var rep Reply
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &rep); err != nil || !rep.OK || !strings.HasPrefix(rep.RequestID, "sh-") {
		t.Fatalf("recipe output %q: reply %+v, %v", out, rep, err)
	}
	if r.door.State().Locked {
		t.Fatal("door still locked after the documented unlock recipe")
	}
}
