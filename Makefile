# Every target creates or reuses .venv and installs what it needs: on a fresh clone `make run` and
# `make test` are the only two commands a person types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kca serve

test: $(STAMP)
	@# deploy: Debian test tools (promtool, chromium); required under CI, installed when missing and root.
	@if [ "$$CI" = true ] || [ "$$(id -u)" = 0 ]; then scripts/install-test-deps.sh; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/kb_quality.py
	$(BIN)/python bench/nlu_quality.py
	$(BIN)/python bench/calls.py --calls 25,50,100 --peer
	$(BIN)/python bench/stt_wer.py --configs baseline,prompt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
