# resreap: `make run` runs the demo, `make test` runs every test.
GO       ?= go
BIN      := bin/resreap
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: all build run test lint bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/resreap

## run: supervise the bundled demo (a leaking front end, a crashing worker); Ctrl-C stops it
run: build
	./$(BIN) run -c configs/demo.toml

## test: vet and run every test with the race detector. Tests named
## *WithoutInotify use up root's inotify instances (a host where other
## programs took them all): they run on their own afterwards, since any
## test running beside them would lose its inotify watches too.
EXCLUSIVE := WithoutInotify
test: build test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m -skip '$(EXCLUSIVE)' ./...
	$(GO) test -race -count=1 -timeout 5m -p 1 -run '$(EXCLUSIVE)' ./...

## faults: only the fault suite (fault_*_test.go: resreap against its own
## I/O failing, PID reuse, state machine corners, abuse), with the race
## detector; part of `make test` too
.PHONY: faults
faults:
	$(GO) test -race -count=1 -timeout 10m -run '^TestFault' -skip '$(EXCLUSIVE)' -v ./cmd/resreap/ ./supervisor/
	$(GO) test -race -count=1 -timeout 5m -p 1 -run '^TestFault.*$(EXCLUSIVE)' -v ./cmd/resreap/ ./supervisor/

## test-deps: install ss (iproute2) and ps (procps) when missing: the
## health cross-checks and the watchdog's -p use them
.PHONY: test-deps
test-deps:
	@command -v ss >/dev/null && command -v ps >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2 procps; }

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: scan cost against ss, netstat and /proc, supervisor RSS/CPU and
## latencies, and the cost section (issue 23: the watchdog, system calls,
## detection latency, memory per child, stop and start of many) before
## and after; writes bench/results.md and bench/scan-cost.svg (~25
## minutes). BASELINE is the build before (default: bin/resreap-base if
## `make bench-base` made it, or $$RESREAP_BENCH_BASELINE).
BASELINE ?= $(or $(RESREAP_BENCH_BASELINE),$(wildcard bin/resreap-base))
bench: build bench-deps bench-tools
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -forkfloor bin/forkfloor \
		-baseline "$(BASELINE)" -out bench

## bench-cost: the cost section alone (~15 minutes), into bin/bench-cost
## (results.md there; bench/ is left as it is)
.PHONY: bench-cost bench-tools bench-base
bench-cost: build bench-deps bench-tools
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -forkfloor bin/forkfloor \
		-baseline "$(BASELINE)" -sizes "" -quiet-at 0 -walk-at 0 -supervisor-at 0 -out bin/bench-cost

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

## bench-deps: install ss (iproute2), netstat (net-tools) and strace when
## missing
.PHONY: bench-deps
bench-deps:
	@command -v ss >/dev/null && command -v netstat >/dev/null && command -v strace >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends iproute2 net-tools strace; }

clean:
	rm -rf bin
