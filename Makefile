# Two entry points: `make serve` (the main job) and `make test` (the whole suite).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: serve test install ingest eval bench lint clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "make: $(PY) not found; install Python 3.11 or run 'make PY=/path/to/python3.11 ...'"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

ingest: install
	$(BIN)/rag ingest

serve: install
	$(BIN)/rag ingest
	$(BIN)/rag chat

test: install
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/pytest
	$(BIN)/rag eval --corpus seeds --index .rag-eval

eval: install
	$(BIN)/rag eval

bench: install
	$(BIN)/rag bench

lint: install
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/ruff format --check rag ui eval tests
	$(BIN)/mypy rag

clean:
	rm -rf .rag .rag-eval eval/results
