# The two commands of the README. Both set everything up on a fresh machine first.
#   make demo   map the bundled example write-up
#   make test   run the test suite (installs chromium for the browser tests when it can)
# and `make serve`: the triage workbench on http://127.0.0.1:8000/ (after make demo, or on its own)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Developers and CI have the ATLAS releases beside the checkout; users get a verified download.
ATLAS ?= $(firstword $(wildcard ../shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml))
ATLAS_ARG := $(if $(ATLAS),--atlas $(ATLAS),)

.PHONY: setup demo serve test browser eval bench clean

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

test: setup browser
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's chromium (Playwright never downloads a browser here). Install it when we are
# root, as .ci/run does; otherwise stop with the command that installs it, rather than skip those tests.
browser:
	@if ! command -v chromium > /dev/null && ! command -v chromium-browser > /dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "installing Debian's chromium for the browser tests (apt-get install chromium)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null \
	      && command -v chromium > /dev/null \
	      || { echo "could not install chromium; install it yourself: apt-get install -y chromium" >&2; exit 1; }; \
	  else \
	    echo "make test runs the browser tests, which need chromium: sudo apt-get install -y chromium" \
	      "(or skip them: $(BIN)/python -m pytest -m 'not browser')" >&2; \
	    exit 1; \
	  fi; \
	fi

eval: setup
	bash eval/reproduce.sh

# side by side with a reference commit (REF=...), the way the README's speed figures were taken
REF ?= dbe6ffc
bench: setup
	$(BIN)/python eval/bench/bench.py --against $(REF)

clean:
	rm -rf models/index models/ranker models/atlas models/kb
