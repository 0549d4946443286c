# Shortcuts for the commands README gives; nothing here is needed to build or run.
.PHONY: run build test ci bench fuzz fmt vet

run:            ## run the server on :8080 with chat.db in this folder
	go run .

build:          ## one binary with templates, static files and migrations embedded
	go build -o chat .

test:           ## README's test command (skips what needs PostgreSQL, Redis or Chromium when missing)
	go test -race ./...

ci:             ## what CI runs: starts the services, requires them, fuzzes briefly
	bash .ci/run

bench:          ## Go benchmarks (see docs/performance.md for the load-test commands)
	go test -run '^$$' -bench . -benchmem ./app/layer/ ./app/chat/ ./app/store/

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	go vet ./...
