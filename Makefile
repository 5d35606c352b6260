# Two commands for newcomers: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-only lint species-db eval selftest loadbench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,train]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/reptile-museum run

test: setup test-only

test-only:
	$(PY) -m pytest -q -rs

lint: setup
	$(VENV)/bin/ruff check .

species-db: setup
	$(PY) -m bot.species_db.build

eval: setup
	$(PY) -m training.evaluate

# Test tools from a checkout (tests/tools/, not in the package): the hardening report (Telegram and Discord
# against the fakes of tests/fakes/) and one replica's throughput under load.
selftest: setup
	$(PY) -m tests.tools.selftest

loadbench: setup
	$(PY) -m tests.tools.loadbench
