package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// TestEnrolmentUploadsDoNotStarveTheDoor runs the daemon with an enrolled
// person in front of the camera and 20 parallel enrolment uploads through the
// web page: the door must keep granting while they run (the uploads used to
// hold the camera loop's vision pipeline: 0 fps, the door opening seconds
// late).
func TestEnrolmentUploadsDoNotStarveTheDoor(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	os.MkdirAll(frames, 0o755)
	for i, img := range []string{"img6.jpg", "img7.jpg", "img10.jpg", "img11.jpg"} {
		os.Symlink(testenv.Face(t, "df01", img), filepath.Join(frames, fmt.Sprintf("%04d.jpg", i)))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
device_id = "enrol-load"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 4
[access]
cooldown_seconds = 1
[mqtt]
broker = ""
[web]
listen = %q
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), frames, addr))
	enrolArgs := []string{"enrol", "-config", cfg, "-name", "Alice"}
	for _, img := range []string{"img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg"} {
		enrolArgs = append(enrolArgs, testenv.Face(t, "df01", img))
	}
	if out, err := exec.Command(bin, enrolArgs...).CombinedOutput(); err != nil {
		t.Fatalf("enrol: %v\n%s", err, out)
	}
	const pass = "load-test-password-1"
	pw := exec.Command(bin, "passwd", "-config", cfg, "-user", "admin")
	pw.Stdin = strings.NewReader(pass + "\n")
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("passwd: %v\n%s", err, out)
	}
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	}()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "var", "facegate.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	grants := func() int {
		var n int
		db.QueryRow("SELECT count(*) FROM events WHERE type = 'access_granted'").Scan(&n)
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for grants() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no grant before the uploads:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 2 * time.Minute}
	resp, err := client.PostForm("http://"+addr+"/login", url.Values{"user": {"admin"}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", "Bob")
	for _, img := range []string{"img8.jpg", "img9.jpg", "img47.jpg"} {
		b, err := os.ReadFile(testenv.Face(t, "df02", img))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := mw.CreateFormFile("image", img)
		w.Write(b)
	}
	mw.Close()

	before := grants()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	uploads, failed := 0, 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/api/people", bytes.NewReader(body.Bytes()))
				req.Header.Set("Content-Type", mw.FormDataContentType())
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil || resp.StatusCode >= 300 {
					failed++
				} else {
					uploads++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	time.Sleep(15 * time.Second)
	during := grants() - before
	close(stop)
	wg.Wait()
	t.Logf("%d uploads (%d refused or failed) in 15 s; %d grants meanwhile", uploads, failed, during)
	if uploads == 0 {
		t.Fatalf("no upload went through (%d failed): the test did not load the daemon:\n%s", failed, out.String())
	}
	if during < 3 {
		t.Fatalf("%d grants in 15 s of enrolment uploads with Alice in front of the camera (cooldown 1 s): recognition was starved", during)
	}
}
