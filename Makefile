# resreap: `make run` runs the demo, `make test` runs every test.
GO       ?= go
BIN      := bin/resreap
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := 2025.1.1

.PHONY: all build run test race lint bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/resreap

## run: supervise the bundled demo (a leaking front end, a crashing worker); Ctrl-C stops it
run: build
	./$(BIN) run -c configs/demo.toml

## test: vet and run every test with the race detector
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: Go benchmarks of the health scan
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./health/...

clean:
	rm -rf bin
