//go:build debtest

package packaging

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A throw-away root for dpkg: the machine's /usr through an overlay (so dpkg,
// sh, adduser are the real programs and what dpkg unpacks lands in the upper
// layer), and its own /etc (no facegate user, no gpio group, an existing video
// group) and dpkg database. dpkg --root runs the maintainer scripts chrooted
// into it. Needs root, as `make test` does anyway (apt, mmdebstrap).
func newRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the package life-cycle test needs root (dpkg --root, mount)")
	}
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{"root/usr", "up", "work", "root/etc", "root/tmp", "root/dev", "root/run",
		"root/var/lib/dpkg/info", "root/var/lib/dpkg/updates", "root/var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	opts := "lowerdir=/usr,upperdir=" + filepath.Join(base, "up") + ",workdir=" + filepath.Join(base, "work")
	if err := syscall.Mount("overlay", filepath.Join(root, "usr"), "overlay", 0, opts); err != nil {
		t.Fatalf("overlay mount of /usr: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(filepath.Join(root, "usr"), syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if target, err := os.Readlink("/" + l); err == nil {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := syscall.Mknod(filepath.Join(root, "dev/null"), syscall.S_IFCHR|0o666, int(unixDev(1, 3))); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "dev/null"), 0o666)
	write := func(name, text string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644)
	write("etc/group", "root:x:0:\nvideo:x:44:\nnogroup:x:65534:\n", 0o644)
	write("etc/shadow", "root:*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\n", 0o640)
	write("etc/gshadow", "root:*::\nvideo:*::\nnogroup:*::\n", 0o640)
	write("var/lib/dpkg/status", "", 0o644)
	write("var/lib/dpkg/available", "", 0o644)
	for _, f := range []string{"etc/adduser.conf", "etc/login.defs", "etc/nsswitch.conf"} {
		data, err := os.ReadFile("/" + f)
		if err != nil {
			t.Fatal(err)
		}
		write(f, string(data), 0o644)
	}
	// chfn (called by adduser for the GECOS field) needs the PAM configuration.
	run(t, "cp", "-a", "/etc/pam.d", "/etc/security", filepath.Join(root, "etc"))
	return root
}

func unixDev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor)
}

func dpkgRoot(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, "dpkg", append([]string{"--root=" + root, "--force-architecture", "--force-depends"}, args...)...)
}

// ids reads NAME -> id and group members from the root's /etc files.
func ids(t *testing.T, root, file string) (id map[string]int, members map[string][]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "etc", file))
	if err != nil {
		t.Fatal(err)
	}
	id, members = map[string]int{}, map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ":")
		n, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("%s: %q", file, line)
		}
		id[f[0]] = n
		if file == "group" && f[3] != "" {
			members[f[0]] = strings.Split(f[3], ",")
		}
	}
	return id, members
}

func owner(t *testing.T, path string) (uid, gid int, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return int(s.Uid), int(s.Gid), st.Mode()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Install, upgrade, remove and purge the real package with dpkg: the user and
// groups are made, the config and the database survive an upgrade, remove
// keeps the data, purge deletes it.
func TestInstallUpgradeRemovePurge(t *testing.T) {
	deb, debVersion, _, _ := debUnderTest(t)
	root := newRoot(t)
	state := filepath.Join(root, "var/lib/facegate")
	cfg := filepath.Join(root, "etc/facegate/facegate.toml")

	// Install.
	dpkgRoot(t, root, "--install", deb)
	users, _ := ids(t, root, "passwd")
	groups, members := ids(t, root, "group")
	uid, ok := users["facegate"]
	if !ok {
		t.Fatal("install made no facegate user")
	}
	if uid >= 1000 {
		t.Errorf("facegate uid %d is not a system uid", uid)
	}
	for _, g := range []string{"gpio", "video"} {
		if _, ok := groups[g]; !ok {
			t.Errorf("group %s missing after install", g)
		}
		if !contains(members[g], "facegate") {
			t.Errorf("facegate is not in group %s: %v", g, members[g])
		}
	}
	if groups["video"] != 44 {
		t.Errorf("the existing video group was replaced: gid %d", groups["video"])
	}
	if u, g, m := owner(t, state); u != uid || g != groups["facegate"] || m.Perm() != 0o750 {
		t.Errorf("/var/lib/facegate: uid %d gid %d mode %v, want facegate:facegate 0750", u, g, m.Perm())
	}
	if u, g, m := owner(t, cfg); u != 0 || g != groups["facegate"] || m.Perm() != 0o640 {
		t.Errorf("config: uid %d gid %d mode %v, want root:facegate 0640", u, g, m.Perm())
	}
	if !exists(filepath.Join(root, "usr/bin/facegate")) || !exists(filepath.Join(root, "lib/systemd/system/facegate.service")) {
		t.Fatal("binary or unit not installed")
	}

	// The user edits the config; the daemon has written a database.
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), `device_id = "door-1"`, `device_id = "back-door"`, 1)
	if edited == string(orig) {
		t.Fatal(`packaged config has no device_id = "door-1" line to edit`)
	}
	if err := os.WriteFile(cfg, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(state, "facegate.db")
	if err := os.WriteFile(db, []byte("enrolled people"), 0o640); err != nil {
		t.Fatal(err)
	}

	// Upgrade to the same package with a higher version.
	next := debVersion + "+1"
	up := rebuildWithVersion(t, deb, next)
	dpkgRoot(t, root, "--install", up)
	if v := strings.TrimSpace(run(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Version}", "facegate")); v != next {
		t.Fatalf("installed version %q after upgrade, want %q", v, next)
	}
	if got, _ := os.ReadFile(cfg); string(got) != edited {
		t.Error("upgrade did not keep the edited config")
	}
	if got, _ := os.ReadFile(db); string(got) != "enrolled people" {
		t.Error("upgrade did not keep the database")
	}

	// Remove: program gone, config and data kept.
	dpkgRoot(t, root, "--remove", "facegate")
	if exists(filepath.Join(root, "usr/bin/facegate")) {
		t.Error("remove left /usr/bin/facegate")
	}
	if got, _ := os.ReadFile(db); string(got) != "enrolled people" {
		t.Error("remove deleted the database")
	}
	if got, _ := os.ReadFile(cfg); string(got) != edited {
		t.Error("remove deleted the config")
	}

	// Purge: data and config gone.
	dpkgRoot(t, root, "--purge", "facegate")
	if exists(state) {
		t.Error("purge left /var/lib/facegate")
	}
	if exists(filepath.Join(root, "etc/facegate")) {
		t.Error("purge left /etc/facegate")
	}
}

// rebuildWithVersion repacks deb with another Version (dpkg-deb -R / -b).
func rebuildWithVersion(t *testing.T, deb, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pkg")
	run(t, "dpkg-deb", "--raw-extract", deb, dir)
	ctl := filepath.Join(dir, "DEBIAN/control")
	data, err := os.ReadFile(ctl)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Version: ") {
			line = "Version: " + version
		}
		out = append(out, line)
	}
	if err := os.WriteFile(ctl, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	up := filepath.Join(t.TempDir(), "facegate_"+version+"_arm64.deb")
	run(t, "dpkg-deb", "--build", dir, up)
	return up
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
