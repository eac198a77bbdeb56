//go:build debtest

package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
)

// The .deb under test and what it must say, set by `make test-deb`.
func debUnderTest(t *testing.T) (deb, debVersion, version, sysroot string) {
	t.Helper()
	deb = os.Getenv("FACEGATE_DEB")
	debVersion = os.Getenv("FACEGATE_DEB_VERSION")
	version = os.Getenv("FACEGATE_VERSION")
	sysroot = os.Getenv("SYSROOT")
	if deb == "" || debVersion == "" || version == "" || sysroot == "" {
		t.Fatal("FACEGATE_DEB, FACEGATE_DEB_VERSION, FACEGATE_VERSION and SYSROOT must be set: run `make test-deb`")
	}
	return deb, debVersion, version, sysroot
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func field(t *testing.T, deb, name string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, name))
}

func TestControlFields(t *testing.T) {
	deb, debVersion, _, _ := debUnderTest(t)
	info := run(t, "dpkg-deb", "--info", deb)
	t.Logf("dpkg-deb --info:\n%s", info)
	for name, want := range map[string]string{
		"Package":      "facegate",
		"Architecture": "arm64",
		"Version":      debVersion,
	} {
		if got := field(t, deb, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if m := field(t, deb, "Maintainer"); m == "" {
		t.Error("no Maintainer")
	}
}

// Depends lists the runtime libraries the binary links (OpenCV 4.6 and the C
// and C++ runtimes) as bookworm arm64 package names, never a -dev package.
func TestDependsAreRuntimeLibraries(t *testing.T) {
	deb, _, _, sysroot := debUnderTest(t)
	depends := field(t, deb, "Depends")
	t.Logf("Depends: %s", depends)
	names := map[string]bool{}
	for _, d := range strings.Split(depends, ",") {
		for _, alt := range strings.Split(d, "|") {
			name := strings.Fields(strings.TrimSpace(alt))[0]
			names[name] = true
			if strings.HasSuffix(name, "-dev") {
				t.Errorf("Depends on the development package %s", name)
			}
		}
	}
	for _, want := range []string{
		"adduser", "libc6", "libstdc++6",
		"libopencv-core406", "libopencv-imgproc406", "libopencv-imgcodecs406",
		"libopencv-videoio406", "libopencv-dnn406", "libopencv-objdetect406",
	} {
		if !names[want] {
			t.Errorf("Depends lacks %s", want)
		}
	}
	// Every library package named exists for arm64 in bookworm (the sysroot's
	// package database was made from the bookworm arm64 archive).
	admin := "--admindir=" + filepath.Join(sysroot, "var/lib/dpkg")
	for name := range names {
		if name == "adduser" {
			continue
		}
		out := run(t, "dpkg-query", admin, "-W", "-f", "${Architecture}", name+":arm64")
		if out != "arm64" {
			t.Errorf("%s: architecture %q in the bookworm arm64 sysroot", name, out)
		}
	}
}

// Every shared library the packaged binary needs is provided by a package in
// Depends: the binary's DT_NEEDED, resolved in the sysroot, mapped back to the
// package that owns it through that package's shlibs file.
func TestDependsCoverNeededLibraries(t *testing.T) {
	deb, _, _, sysroot := debUnderTest(t)
	dir := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, dir)
	bin := filepath.Join(dir, "usr/bin/facegate")
	dyn := run(t, "readelf", "-d", bin)
	needed := regexp.MustCompile(`\(NEEDED\).*\[(.+)\]`).FindAllStringSubmatch(dyn, -1)
	if len(needed) < 5 {
		t.Fatalf("only %d DT_NEEDED entries in the packaged binary:\n%s", len(needed), dyn)
	}
	depends := field(t, deb, "Depends")
	shlibs, err := filepath.Glob(filepath.Join(sysroot, "var/lib/dpkg/info/*.shlibs"))
	if err != nil || len(shlibs) == 0 {
		t.Fatalf("no shlibs files in the sysroot: %v", err)
	}
	for _, m := range needed {
		so := m[1]
		if !libraryExists(sysroot, so) {
			t.Errorf("%s: not in the bookworm arm64 sysroot", so)
			continue
		}
		owner := shlibsOwner(t, shlibs, so)
		if owner == "" {
			t.Errorf("%s: no package's shlibs file names it", so)
			continue
		}
		if !regexp.MustCompile(`(^|[ ,|])` + regexp.QuoteMeta(owner) + `( |,|$)`).MatchString(depends) {
			t.Errorf("%s is provided by %s, which is not in Depends: %s", so, owner, depends)
		}
	}
}

func libraryExists(sysroot, so string) bool {
	for _, d := range []string{"usr/lib/aarch64-linux-gnu", "lib/aarch64-linux-gnu", "lib", "usr/lib"} {
		if _, err := os.Stat(filepath.Join(sysroot, d, so)); err == nil {
			return true
		}
	}
	return false
}

// shlibsOwner returns the package whose shlibs file lists soname so, from the
// file's name (pkg or pkg:arch).
func shlibsOwner(t *testing.T, files []string, so string) string {
	t.Helper()
	var name, ver string
	if m := regexp.MustCompile(`^(.*)\.so\.(.*)$`).FindStringSubmatch(so); m != nil {
		name, ver = m[1], m[2]
	} else if m := regexp.MustCompile(`^(.*)-([0-9].*)\.so$`).FindStringSubmatch(so); m != nil {
		name, ver = m[1], m[2]
	} else {
		t.Fatalf("cannot split soname %s", so)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			fs := strings.Fields(line)
			if len(fs) >= 3 && fs[0] == name && fs[1] == ver {
				pkg := strings.TrimSuffix(filepath.Base(f), ".shlibs")
				pkg, _, _ = strings.Cut(pkg, ":")
				return pkg
			}
		}
	}
	return ""
}

func TestContents(t *testing.T) {
	deb, _, _, _ := debUnderTest(t)
	contents := run(t, "dpkg-deb", "--contents", deb)
	t.Logf("dpkg-deb --contents:\n%s", contents)
	// path -> mode prefix (as dpkg-deb lists it).
	want := map[string]string{
		"./usr/bin/facegate":                             "-rwxr-xr-x",
		"./lib/systemd/system/facegate.service":          "-rw-r--r--",
		"./etc/facegate/facegate.toml":                   "-rw-r-----",
		"./usr/share/doc/facegate/install-pi.md":         "-rw-r--r--",
		"./usr/share/doc/facegate/facegate.example.toml": "-rw-r--r--",
		"./var/lib/facegate/":                            "drwxr-x---",
	}
	found := map[string]bool{}
	for _, line := range strings.Split(contents, "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 {
			continue
		}
		path := fs[5]
		if mode, ok := want[path]; ok {
			found[path] = true
			if fs[0] != mode {
				t.Errorf("%s: mode %s, want %s", path, fs[0], mode)
			}
			if fs[1] != "root/root" {
				t.Errorf("%s: owner %s, want root/root", path, fs[1])
			}
		}
		if strings.HasSuffix(path, ".onnx") || strings.HasSuffix(path, ".db") {
			t.Errorf("package ships %s: models and databases are not packaged", path)
		}
	}
	for p := range want {
		if !found[p] {
			t.Errorf("%s not in the package", p)
		}
	}
}

// The configuration is a conffile (kept on upgrade and remove), and the copy in
// the package points at the Pi's paths and real GPIO.
func TestConfig(t *testing.T) {
	deb, _, _, _ := debUnderTest(t)
	ctl := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil {
		t.Fatalf("no conffiles: %v", err)
	}
	if strings.TrimSpace(string(conffiles)) != "/etc/facegate/facegate.toml" {
		t.Errorf("conffiles = %q, want /etc/facegate/facegate.toml", conffiles)
	}
	root := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, root)
	cfg, err := os.ReadFile(filepath.Join(root, "etc/facegate/facegate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^data_dir = "/var/lib/facegate"`,
		`(?m)^models_dir = "/var/lib/facegate/models"`,
		`(?m)^gpio = "periph"`,
		`(?m)^relay_pin = "GPIO17"`,
		`(?m)^relay_active_low = true`,
	} {
		if !regexp.MustCompile(re).Match(cfg) {
			t.Errorf("packaged config does not match %s", re)
		}
	}
	// The daemon accepts the packaged file as it is (no typo'd key, no bad value).
	loaded, err := config.Load(filepath.Join(root, "etc/facegate/facegate.toml"))
	if err != nil {
		t.Errorf("the packaged config is refused by facegate: %v", err)
	} else if loaded.Door.GPIO != "periph" || loaded.DataDir != "/var/lib/facegate" || loaded.Demo {
		t.Errorf("packaged config loads as gpio=%q data_dir=%q demo=%v", loaded.Door.GPIO, loaded.DataDir, loaded.Demo)
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/facegate.service"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../systemd/facegate.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unit, src) {
		t.Error("packaged facegate.service differs from systemd/facegate.service")
	}
}

// The maintainer scripts are in the package, executable, valid sh, and do
// what install, upgrade, remove and purge need.
func TestMaintainerScripts(t *testing.T) {
	deb, _, _, _ := debUnderTest(t)
	ctl := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, ctl)
	want := map[string][]string{
		"postinst": {"adduser --system", "facegate", "gpio video", "/var/lib/facegate", "try-restart facegate.service"},
		"prerm":    {"systemctl stop facegate.service"},
		"postrm":   {"purge)", "rm -rf /var/lib/facegate"},
	}
	for name, needles := range want {
		p := filepath.Join(ctl, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s missing: %v", name, err)
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable: %v", name, st.Mode())
		}
		run(t, "sh", "-n", p)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if !strings.Contains(string(data), n) {
				t.Errorf("%s does not contain %q", name, n)
			}
		}
		// remove must not delete data: only the purge branch may.
		if name == "postrm" {
			s := string(data)
			rm := strings.Index(s, "rm -rf /var/lib/facegate")
			if rm >= 0 && rm < strings.Index(s, "purge)") {
				t.Error("postrm deletes /var/lib/facegate outside the purge branch")
			}
		}
	}
}

// The packaged binary runs on arm64 (under qemu, with the bookworm arm64
// libraries) and reports the version it was built as.
func TestBinaryRunsUnderQemu(t *testing.T) {
	deb, _, version, sysroot := debUnderTest(t)
	dir := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, dir)
	bin := filepath.Join(dir, "usr/bin/facegate")
	if h := run(t, "readelf", "-h", bin); !strings.Contains(h, "AArch64") {
		t.Fatalf("packaged binary is not AArch64:\n%s", h)
	}
	out := run(t, "qemu-aarch64-static", "-L", sysroot, bin, "version")
	t.Logf("facegate version under qemu: %s", out)
	if !strings.HasPrefix(out, "facegate "+version+" ") {
		t.Errorf("version output %q does not start with %q", out, "facegate "+version+" ")
	}
	if !strings.Contains(out, "OpenCV 4.6.0") {
		t.Errorf("version output %q does not name OpenCV 4.6.0", out)
	}
}
