# facegate: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
export OPENCV_LOG_LEVEL ?= ERROR
# Tests and the demo use the shared models and faces beside the project checkout.
export FACEGATE_MODELS ?= $(abspath ../shared/models)
TEST_TIMEOUT ?= 12m

.PHONY: all deps deps-run build run test vet gotest bench clean

all: build

deps-run:
	@scripts/install-deps.sh run
	@$(GO) mod download

deps:
	@scripts/install-deps.sh test
	@$(GO) mod download

build: deps-run
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/facegate ./cmd/facegate

run: build
	@scripts/demo.sh

vet:
	$(GO) vet ./...

# Every test, with gocv's Mat profile on so leak checks can fail.
gotest:
	$(GO) test -tags matprofile -timeout $(TEST_TIMEOUT) -count=1 ./...

EXTRA_TESTS ?=
-include mk/*.mk

test: deps vet gotest $(EXTRA_TESTS)

bench: deps-run
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

clean:
	rm -rf bin dist
