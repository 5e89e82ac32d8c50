# Two commands do the whole set-up on a fresh machine (Python 3.11 and pip):
#   make run    create .venv, generate the default synthetic extract if the project's raw folder
#               (data/<study>/raw) is empty, and materialize every asset from the CLI (outputs
#               under $CDISC_OUTPUT_DIR); an empty EDC_EXTRACT_DIR elsewhere is an error
#   make test   create .venv and run the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The study (specs/<study>/, mappings/<study>/): STUDY=<id>, default [tool.cdisc] of pyproject.toml.
STUDY ?= $(shell sed -n 's/^default_study *= *"\(.*\)"/\1/p' pyproject.toml)
export CDISC_STUDY := $(STUDY)
# One Dagster instance per study: .dagster/<study>/ (git-ignored) with a link to ./dagster.yaml
# (pipelines/defs/instance_study.py refuses an instance that serves another study).
export DAGSTER_HOME ?= $(CURDIR)/.dagster/$(STUDY)
export CDISC_OUTPUT_DIR ?= output/$(STUDY)
export EDC_EXTRACT_DIR ?= data/$(STUDY)/raw
# Randomized subjects when generating; empty: the study's own number (its generator study.yaml).
SUBJECTS ?=
SEED ?= 1
CUTOFF ?=
SELECT ?= *
CUT ?=

.PHONY: run test venv instance extract ui clean

venv: $(STAMP)
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

instance:
	@mkdir -p "$(DAGSTER_HOME)"
	@test -e "$(DAGSTER_HOME)/dagster.yaml" || ln -s "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

# Generates only into the project's own default folder (an empty configured folder is an error).
extract: venv
	@if [ -z "$$(ls -A "$(EDC_EXTRACT_DIR)" 2>/dev/null)" ]; then \
	  if [ "$(abspath $(EDC_EXTRACT_DIR))" != "$(CURDIR)/data/$(STUDY)/raw" ]; then \
	    echo "error: the extract folder $(EDC_EXTRACT_DIR) (EDC_EXTRACT_DIR) is empty: no extract to run" >&2; exit 2; \
	  fi; \
	  echo "$(EDC_EXTRACT_DIR) is empty: generating the synthetic EDC extract (seed $(SEED))"; \
	  $(BIN)/python -m pipelines.simulate $(if $(SUBJECTS),--subjects $(SUBJECTS)) --seed $(SEED) --out "$(EDC_EXTRACT_DIR)" $(if $(CUTOFF),--cutoff $(CUTOFF)); \
	fi

# One process: generate the extract if the project's default folder is empty (never a configured
# one), register the data cuts, materialize every asset (SELECT=...) of the newest cut (CUT=...)
# in the instance at $DAGSTER_HOME. V=1 prints every Dagster event; GENERATE=1 generates into an
# empty configured EDC_EXTRACT_DIR too.
run: venv instance
	$(BIN)/python -m pipelines run --select '$(SELECT)' $(if $(SUBJECTS),--subjects $(SUBJECTS)) --seed $(SEED) \
	  $(if $(CUT),--cut $(CUT)) $(if $(CUTOFF),--cutoff $(CUTOFF)) $(if $(V),-v) $(if $(GENERATE),--generate)

test: venv
	$(BIN)/python -m pytest

ui: venv instance extract
	@$(BIN)/python -m pipelines.defs.cuts register >/dev/null
	$(BIN)/dagster dev -m pipelines.definitions --host $${DAGSTER_UI_HOST:-127.0.0.1} --port $${DAGSTER_UI_PORT:-3000}

clean:
	rm -rf "$(CDISC_OUTPUT_DIR)" "$(DAGSTER_HOME)"
