# Two commands do all the set-up on a fresh machine:
#   make serve   install, then serve the maps on the shipped Beilun demo
#   make test    install, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8000

.PHONY: install serve report test lint bench demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml package-lock.json | $(BIN)/python
	bash scripts/install-system-deps.sh chromium fonts-noto-cjk nodejs npm poppler-utils postgresql-15-postgis-3
	$(BIN)/pip install --quiet -e '.[dev]'
	# axe-core for the accessibility tests (tests/test_a11y.py), pinned in package-lock.json
	npm ci --no-audit --no-fund --silent
	# the notebooks' kernel: this venv's python, for Jupyter started from the venv
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name 'Python 3 (servicemap)' >/dev/null
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/servicemap serve --demo beilun --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install
	bash scripts/install-system-deps.sh wrk   # the load generator of benchmarks/bench_web.py
	$(BIN)/python benchmarks/run_all.py   # the suite; writes docs/benchmarks.md and the README table

demo: install
	$(BIN)/python datasets/beilun/build.py

clean:
	rm -rf $(VENV) .pytest_cache
