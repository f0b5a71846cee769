# resreap: `make run` runs the demo, `make test` runs every test,
# `make install` installs the binary, its man page and completions.
GO       ?= go
BIN      := bin/resreap
FLEETBIN := bin/resreap-fleet
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
PREFIX   ?= /usr/local
DESTDIR  ?=

# A pipeline fails when any command of it fails (go test | testprogress).
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all build run test lint bench clean install

all: build

## build: resreap, and resreap-fleet beside it (the agent resreap runs for
## a [fleet], and `resreap fleet`'s etcd client; resreap links none)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/resreap
	$(GO) build -ldflags "$(LDFLAGS)" -o $(FLEETBIN) ./cmd/resreap-fleet

## run: supervise the bundled demo (a leaking front end, a crashing worker); Ctrl-C stops it
run: build
	./$(BIN) run -c configs/demo.toml

## test: vet and run every test with the race detector. Tests named
## *WithoutInotify use up root's inotify instances (a host where other
## programs took them all): they run on their own afterwards, since any
## test running beside them would lose its inotify watches too.
## cmd/testprogress prints each package's line as it finishes (not in
## go test's order, which held every line behind the slowest package),
## the tests still running every 30s, a failed package's whole output,
## and "N passed, N failed, N skipped" at the end.
EXCLUSIVE := WithoutInotify
PROGRESS  := bin/testprogress
test: build test-deps
	$(GO) vet ./...
	$(GO) build -o $(PROGRESS) ./cmd/testprogress
	@echo "go test: every package with the race detector (the slowest, cmd/resreap and supervisor, take minutes)"
	$(GO) test -json -race -count=1 -timeout 15m -skip '$(EXCLUSIVE)' ./... 2>&1 | $(PROGRESS)
	@echo "go test: the tests that use up inotify ($(EXCLUSIVE)), one package at a time"
	$(GO) test -json -race -count=1 -timeout 5m -p 1 -run '$(EXCLUSIVE)' ./... 2>&1 | $(PROGRESS)

## install: the binary, its man page (resreap man) and its bash, zsh and
## fish completions (resreap completion SHELL), under DESTDIR/PREFIX
## (PREFIX=/usr/local by default; DESTDIR for a package build)
install: build
	./$(BIN) man > bin/resreap.1
	./$(BIN) completion bash > bin/resreap.bash
	./$(BIN) completion zsh > bin/_resreap
	./$(BIN) completion fish > bin/resreap.fish
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/resreap
	install -D -m 0644 bin/resreap.1 $(DESTDIR)$(PREFIX)/share/man/man1/resreap.1
	install -D -m 0644 bin/resreap.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/resreap
	install -D -m 0644 bin/_resreap $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_resreap
	install -D -m 0644 bin/resreap.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/resreap.fish

## faults: only the fault suite (fault_*_test.go: resreap against its own
## I/O failing, PID reuse, state machine corners, abuse), with the race
## detector; part of `make test` too
.PHONY: faults
faults:
	$(GO) test -race -count=1 -timeout 10m -run '^TestFault' -skip '$(EXCLUSIVE)' -v ./cmd/resreap/ ./supervisor/
	$(GO) test -race -count=1 -timeout 5m -p 1 -run '^TestFault.*$(EXCLUSIVE)' -v ./cmd/resreap/ ./supervisor/

## test-deps: install ss (iproute2), ps (procps), etcd (etcd-server, 3.4)
## and nginx (nginx-light) when missing: the health cross-checks, the
## watchdog's -p, the fleet tests (which start their own etcd on
## loopback) and the zero-downtime test of real nginx use them
.PHONY: test-deps
test-deps:
	@command -v ss >/dev/null && command -v ps >/dev/null && command -v etcd >/dev/null && command -v nginx >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2 procps etcd-server nginx-light; }

## generate: rebuild the BPF object of health/bpf (closewait.c) and its Go
## binding with bpf2go; installs clang, llvm and libbpf's headers when
## missing. The results are committed: a build needs none of these.
.PHONY: generate
generate:
	@command -v clang >/dev/null && command -v llvm-strip >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev; }
	$(GO) generate ./health/bpf/

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: scan cost against ss, netstat and /proc, supervisor RSS/CPU and
## latencies, the cost section (the watchdog, system calls, detection
## latency, memory per child, stop and start of many) before and after,
## then restarts under load (stop-start beside surge, a Go server and
## nginx) and the fleet; writes bench/results.md, bench/fleet.md and
## bench/scan-cost.svg (~25 minutes). BASELINE is the build before
## (default: bin/resreap-base if `make bench-base` made it, or
## $$RESREAP_BENCH_BASELINE).
BASELINE ?= $(or $(RESREAP_BENCH_BASELINE),$(wildcard bin/resreap-base))
bench: build bench-deps bench-tools
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -forkfloor bin/forkfloor \
		-baseline "$(BASELINE)" -out bench
	$(GO) run ./bench/cmd/fleetbench -etcd $$(command -v etcd) > bench/fleet.md
	$(GO) run ./bench/cmd/zerodt -resreap $(BIN) -child bin/benchchild -out bench/results.md

## bench-cost: the cost section alone (~7 minutes), into bin/bench-cost
## (results.md there; bench/ is left as it is)
.PHONY: bench-cost bench-tools bench-base
bench-cost: build bench-deps bench-tools
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -forkfloor bin/forkfloor \
		-baseline "$(BASELINE)" -sizes "" -quiet-at 0 -walk-at 0 -supervisor-at 0 -source-sizes "" -conn-rounds 0 -out bin/bench-cost

bench-tools:
	$(GO) build -o bin/sockload ./bench/cmd/sockload
	$(GO) build -o bin/benchchild ./bench/cmd/benchchild
	$(GO) build -o bin/forkfloor ./bench/cmd/forkfloor

## bench-base: build bin/resreap-base, the build before, from BASE (a
## commit; default where this branch left main), for the before columns
BASE ?= $(shell git merge-base HEAD main 2>/dev/null || echo HEAD)
bench-base:
	rm -rf bin/base-src && mkdir -p bin/base-src
	git archive $(BASE) | tar -x -C bin/base-src
	cd bin/base-src && $(GO) build -ldflags "-X main.version=$$(git -C $(CURDIR) rev-parse --short $(BASE))" -o ../resreap-base ./cmd/resreap
	rm -rf bin/base-src

## bench-sources: only the CLOSE_WAIT sources (the health tick with the BPF
## event source and with the dump at 1k..300k sockets, the program's cost
## to a connection-heavy load, detection latency with both); writes
## bench/sources.md (~5 minutes); make bench measures the same into results.md
.PHONY: bench-sources
bench-sources: build bench-deps bench-tools
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -out bench -sources-only -output sources.md

## bench-deps: install ss (iproute2), netstat (net-tools), strace and etcd
## when missing
.PHONY: bench-deps
bench-deps:
	@command -v ss >/dev/null && command -v netstat >/dev/null && command -v strace >/dev/null && command -v etcd >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends iproute2 net-tools strace etcd-server; }

clean:
	rm -rf bin
