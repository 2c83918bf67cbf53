# Sigap 112: `make run` serves the bot on 127.0.0.1:8000, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test train lint install install-test install-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The console's browser tests drive Debian's Chromium (Playwright cannot download a browser here).
/usr/bin/chromium:
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# What the benchmarks use beyond the tests (bench/: spaCy as bench/nlu.py's peer, py-spy for --profile).
install-bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e '.[test,bench]'

train: install
	$(BIN)/sigap train

# Trains only when no model matches the current data and config.
run: install
	$(BIN)/sigap train --if-missing
	$(BIN)/sigap serve --host 127.0.0.1 --port 8000

test: install-test /usr/bin/chromium
	$(BIN)/ruff check bot nlu actions channels tests bench
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) models
