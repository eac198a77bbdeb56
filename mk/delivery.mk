# Delivery to a Raspberry Pi 4B (Raspberry Pi OS bookworm 64-bit): cross build
# for linux/arm64 with cgo against a Debian bookworm arm64 sysroot, the unit
# tests under qemu-aarch64-static, and the .deb (nfpm). See docs/install-pi.md.
#
#   make cross       bin/linux-arm64/facegate
#   make test-arm64  facedb, door, signedcmd, vision tests built for arm64, run under qemu
#   make deb         dist/facegate_<version>_arm64.deb
#   make test-deb    inspects that .deb with dpkg-deb and runs its binary under qemu

# The sysroot (1.1 GB) is kept in the user's cache, outside the checkout, so
# every clone on a machine (CI's included) reuses it; it is rebuilt when missing.
SYSROOT ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/facegate/sysroot-bookworm-arm64
ARM64_BIN := bin/linux-arm64/facegate
NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
export SYSROOT NFPM

# Debian version from $(VERSION) (git describe): v1.2.3-4-gabc -> 1.2.3+4+gabc;
# no tag yet -> 0.0.0~git+<commit>.
deb_version := $(shell v='$(VERSION)'; v=$${v#v}; case "$$v" in ([0-9]*.*) ;; (*) v="0.0.0~git+$$v";; esac; echo "$$v" | tr -- - +)
DEB_VERSION ?= $(deb_version)
DEB := dist/facegate_$(DEB_VERSION)_arm64.deb

# Test packages run under emulation; a package not (yet) in the tree is skipped.
# vision's tests run the real models about 10x slower under qemu (its whole
# suite takes over 10 minutes there), so ARM64_VISION_RUN picks a real subset
# (~45 s under qemu on the 2-core build machine): detection and 512-d
# embeddings that separate identities, OpenCV exceptions through the cgo shim,
# grey/alpha frames, the gallery's dot product (the non-amd64 code path),
# missing models, idempotent Close. `make test-arm64 ARM64_VISION_RUN=` runs all.
# The arm64 build has no matprofile tag (Mat leaks are checked by the amd64
# gotest; matleak.Check says so in the test log).
ARM64_TEST_PKGS ?= facedb door signedcmd
ARM64_VISION_RUN ?= ^(TestEmbeddingsSeparateIdentities|TestBadImages|TestGreyAndAlphaFrames|TestGalleryMatchesBruteForce|TestGalleryEmptyAndWrongDims|TestOpenMissingModel|TestCloseIdempotent)$$
ARM64_TEST_TIMEOUT ?= 8m
arm64_pkgs = $(foreach p,$(ARM64_TEST_PKGS),$(if $(wildcard $(p)/*_test.go),./$(p)/))
arm64_vision = $(if $(wildcard vision/*_test.go),./vision/)

.PHONY: sysroot cross deb test-arm64 test-deb

sysroot: deps
	@scripts/sysroot.sh "$(SYSROOT)" >/dev/null

cross: sysroot
	scripts/cross.sh build -trimpath -ldflags "$(LDFLAGS)" -o $(ARM64_BIN) ./cmd/facegate

# Without -tags matprofile: the shipped binary is built without it, so gocv's
# C++ is compiled once for arm64; Mat leaks are checked by the amd64 `gotest`.
test-arm64: cross
	@test -z "$(arm64_pkgs)" || scripts/cross.sh test -count=1 -timeout $(ARM64_TEST_TIMEOUT) $(arm64_pkgs)
	@test -z "$(arm64_vision)" || scripts/cross.sh test -count=1 -timeout $(ARM64_TEST_TIMEOUT) $(if $(ARM64_VISION_RUN),-run '$(ARM64_VISION_RUN)') $(arm64_vision)

deb: cross
	@mkdir -p dist
	packaging/build-deb.sh $(ARM64_BIN) $(DEB_VERSION) dist

test-deb: deb
	FACEGATE_DEB=$(CURDIR)/$(DEB) FACEGATE_DEB_VERSION=$(DEB_VERSION) FACEGATE_VERSION=$(VERSION) \
		$(GO) test -tags debtest -count=1 -timeout 5m ./packaging/

EXTRA_TESTS += test-arm64 test-deb
