# Two commands on a fresh clone: `make run` (the pipeline) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands call `python`: make it the virtualenv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run demo relink test test-fast install clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	# torch is pinned to 2.13.0 in pyproject.toml (the CPU wheel here; CUDA builds come from the registry).
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its test tools

run: $(STAMP)  ## the whole pipeline on params.yaml (Fashion-MNIST: needs the network)
	$(BIN)/dvc repro
	$(MAKE) --no-print-directory relink

demo: $(STAMP)  ## the same DAG offline, on the full-size synthetic dataset, 1 epoch each (DEMO_EPOCHS=N)
	$(BIN)/dvc exp run --name demo-$$(date +%Y%m%d-%H%M%S) \
	    -S data.dataset=synthetic -S train.epoch_limit=$${DEMO_EPOCHS:-1}
	$(MAKE) --no-print-directory relink

# After a run DVC leaves outputs whose content the cache already held as copies; relinking makes the
# identical image arrays of the -onehot/-sparse variants one hardlinked file (about 0.66 GB, not 1.3 GB).
relink: $(STAMP)  ## hardlink every DVC output to the cache (saves the duplicate prepared arrays)
	$(BIN)/dvc checkout --relink -q

test: $(STAMP)  ## the whole test suite, slow tests included
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## the suite without the slow tests (real servers, browser)
	$(BIN)/python -m pytest -q -m "not slow"

clean:  ## remove caches and the virtualenv (not data or DVC's cache)
	rm -rf $(VENV) .pytest_cache src/*.egg-info
