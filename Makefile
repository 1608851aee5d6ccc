# The two commands of the README. Everything installs into .venv; torch's CPU wheel is
# pinned and installed first, because an unpinned torch pulls gigabytes of CUDA packages.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
TORCH   = torch==2.13.0

.PHONY: run test test-integration test-ray setup clean

## set up, then tag the shipped example reports with the shipped default model, models/minzheng-small, once, writing every format (runs/seeds/)
run: setup
	$(BIN)/mzie tag annotation/data/seeds -o runs/seeds --format jsonl,csv,parquet,label-studio
	@echo "records: runs/seeds/records.jsonl  tables: runs/seeds/csv/, runs/seeds/parquet/  Label Studio tasks: runs/seeds/tasks.json"

## set up, then run the test suite (slow suites: $(BIN)/python -m pytest -m slow)
test: setup
	$(BIN)/python -m pytest

## the Label Studio integration suite: installs Label Studio into its own venv (.ls-venv, or $$MZIE_LS_VENV) on first use
test-integration: setup
	$(BIN)/python -m pytest -m slow tests/test_studio_server.py

## the Ray suite (--engine ray for tagging and training, on a Ray instance of 2 CPUs started by the tests, about 2 min): installs the ray extra into .venv on first use
test-ray: $(VENV)/.installed-ray
	$(BIN)/python -m pytest -m ray

setup: $(VENV)/.installed

$(VENV)/.installed-ray: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[ray]'
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .ls-venv runs build *.egg-info
