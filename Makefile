# The two commands of the README. Both set everything up on a fresh machine first.
#   make demo   map the bundled example write-up
#   make test   run the test suite
# and `make serve`: the triage workbench on http://127.0.0.1:8000/ (after make demo, or on its own)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Developers and CI have the ATLAS releases beside the checkout; users get a verified download.
ATLAS ?= $(firstword $(wildcard ../shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml))
ATLAS_ARG := $(if $(ATLAS),--atlas $(ATLAS),)

.PHONY: setup demo serve test eval bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	# The CPU build of torch first: anything else pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,serve,dask,eval]'
	touch $@

demo: setup
	$(BIN)/atlas-mapper map data/examples/tay-chatbot.md $(ATLAS_ARG)
	@echo "Review write-ups like this one in the browser: make serve"

serve: setup
	$(BIN)/atlas-mapper serve $(ATLAS_ARG)

test: setup
	$(BIN)/python -m pytest -q

eval: setup
	bash eval/reproduce.sh

bench: setup
	$(BIN)/python eval/bench/bench.py

clean:
	rm -rf models/index models/ranker models/atlas models/kb
