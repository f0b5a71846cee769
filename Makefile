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

## test-deps: install ss (iproute2), ps (procps) and nginx (nginx-light)
## when missing: the health cross-checks, the watchdog's -p and the
## zero-downtime test of real nginx use them
.PHONY: test-deps
test-deps:
	@command -v ss >/dev/null && command -v ps >/dev/null && command -v nginx >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2 procps nginx-light; }

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: scan cost against ss, netstat and /proc, supervisor RSS/CPU and
## latencies, then restarts under load (stop-start beside surge, a Go
## server and nginx); writes bench/results.md and bench/scan-cost.svg
## (~12 minutes)
bench: build bench-deps
	$(GO) build -o bin/sockload ./bench/cmd/sockload
	$(GO) build -o bin/benchchild ./bench/cmd/benchchild
	$(GO) run ./bench/cmd/report -resreap $(BIN) -sockload bin/sockload -child bin/benchchild -out bench
	$(GO) run ./bench/cmd/zerodt -resreap $(BIN) -child bin/benchchild -out bench/results.md

## bench-deps: install ss (iproute2) and netstat (net-tools) when missing
.PHONY: bench-deps
bench-deps:
	@command -v ss >/dev/null && command -v netstat >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends iproute2 net-tools; }

clean:
	rm -rf bin
