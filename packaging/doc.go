// Package packaging builds facegate's arm64 .deb for a Raspberry Pi 4B
// (Raspberry Pi OS bookworm 64-bit) and tests it; it has no Go API.
//
//   - nfpm.yaml: the package (binary, systemd unit, /etc/facegate/facegate.toml
//     conffile, /var/lib/facegate, the install guide);
//   - postinst, prerm, postrm: the facegate system user in the gpio and video
//     groups, restart on upgrade, data kept on remove and deleted on purge;
//   - debdeps.sh: runtime Depends from the binary's DT_NEEDED through the
//     bookworm arm64 packages' shlibs files in the sysroot;
//   - build-deb.sh: stages the stripped binary and the Pi config, runs nfpm.
//
// `make deb` builds the package and `make test-deb` runs this package's tests
// (build tag debtest) on it with dpkg-deb and qemu-aarch64-static.
package packaging
