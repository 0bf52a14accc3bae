# Two commands on a fresh clone: `make run` (the pipeline) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands call `python`: make it the virtualenv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run demo relink test test-fast bench gpu-carry install lock clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	# The exact versions of requirements.lock (resolved from pyproject.toml's ranges by `make lock`);
	# torch is pinned to 2.13.0 (the CPU wheel here; CUDA builds come from the registry).
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its test tools

lock: $(STAMP)  ## re-resolve requirements.lock from pyproject.toml's version ranges (after changing them)
	$(BIN)/pip-compile -q --upgrade --extra dev --strip-extras --no-emit-find-links --no-emit-index-url \
	    --output-file requirements.lock pyproject.toml
	# The CPU wheel found here is 2.13.0+cpu: the pin drops the +cpu, so a CUDA build of 2.13.0 fits too.
	sed -i 's/^torch==\([0-9.]*\)+[a-z0-9]*$$/torch==\1/' requirements.lock

# make run DATA=folder [NAME="its name"] [CLASSES=fashion-mnist]: the same DAG offline on a folder of the four
# IDX files (data.dataset idx-dir), as a DVC experiment whose params say which data it ran on.
DATA_PARAMS = -S data.dataset=idx-dir -S "data.source='$(DATA)'" \
    -S $(if $(NAME),"data.name='$(NAME)'",data.name=null) -S $(if $(CLASSES),"data.classes=$(CLASSES)",data.classes=null)
run: $(STAMP)  ## the whole pipeline on params.yaml (Fashion-MNIST: needs the network); DATA=folder: offline on your IDX files
ifdef DATA
	$(BIN)/dvc exp run $(DATA_PARAMS)
else
	$(BIN)/dvc repro
endif
	$(MAKE) --no-print-directory relink

# The demo: the DAG offline on the 7,000 real images shipped in data/sample (dataset fashion-mnist-sample:
# 6,000 training images, the last 1,200 of them validating, as 12,000 of 60,000 do; 1,000 test images),
# DEMO_EPOCHS per experiment: real curves in minutes. DEMO_DATA=synthetic trains on DEMO_IMAGES generated
# images instead (any size; a quarter as many test images, the last fifth validating).
# Its settings live in the DVC experiment only: params.yaml is put back byte for byte when it ends (or
# fails, or is interrupted), so a later `dvc repro` runs on params.yaml, not on the demo's data.
DEMO_DATA ?= sample
DEMO_IMAGES ?= 20000
DEMO_EPOCHS ?= 3
DEMO_KEEP := .dvc/tmp/params-before-demo.yaml
ifeq ($(DEMO_DATA),synthetic)
DEMO_SETS = -S data.dataset=synthetic -S data.synthetic.train=$(DEMO_IMAGES) \
    -S data.synthetic.test=$$(( $(DEMO_IMAGES) / 4 )) -S prepare.val_size=$$(( $(DEMO_IMAGES) / 5 ))
else
DEMO_SETS = -S data.dataset=fashion-mnist-sample -S prepare.val_size=1200
endif
demo: $(STAMP)  ## the same DAG offline on 7,000 real images (DEMO_EPOCHS=3; DEMO_DATA=synthetic: generated ones)
	@mkdir -p $(dir $(DEMO_KEEP)) && cp -p params.yaml $(DEMO_KEEP)
	trap 'test ! -f $(DEMO_KEEP) || mv $(DEMO_KEEP) params.yaml' EXIT INT TERM; \
	$(BIN)/dvc exp run --name demo-$$(date +%Y%m%d-%H%M%S) $(DEMO_SETS) -S train.epoch_limit=$(DEMO_EPOCHS)
	$(MAKE) --no-print-directory relink

# After a run DVC leaves outputs whose content the cache already held as copies; relinking makes the
# identical image arrays of the -onehot/-sparse variants one hardlinked file (about 0.66 GB, not 1.3 GB).
relink: $(STAMP)  ## hardlink every DVC output to the cache (saves the duplicate prepared arrays)
	$(BIN)/dvc checkout --relink -q

# Most of a test's time is one Python process waiting on another (dvc, a stage, MLflow): two workers keep
# both cores busy. A file's tests stay on one worker, in order, so a module's fixture is built once.
TEST_WORKERS ?= 2
test: $(STAMP)  ## the whole test suite, slow tests included (TEST_WORKERS=0: one at a time, in one process)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

test-fast: $(STAMP)  ## the suite without the slow tests (real servers, browser)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

bench: $(STAMP)  ## benchmarks: throughput vs seed-style, each CPU setting, the CPU against its limit, every stage at full size; README table (~25 min on 2 CPU cores)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/knobs.py --device $$($(BIN)/python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
	$(BIN)/python bench/flops.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/table.py --write

# For a lent GPU (bench/README.md, "A lent GPU"): what its run carries, in the git-ignored .carry/.
gpu-carry: $(STAMP)  ## .carry/: the real IDX files (DATA=folder, default ../shared/fashion-mnist) and the wheels a GPU run needs
	$(BIN)/python bench/carry.py $(if $(DATA),--data $(DATA))

clean:  ## remove caches and the virtualenv (not data or DVC's cache)
	rm -rf $(VENV) .pytest_cache src/*.egg-info
