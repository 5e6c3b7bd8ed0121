# glassnet — quick start: `make demo`, then `make test`.
# Both create .venv with Python 3.11 (or python3) and install what they need into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The real data sets live beside the project in ../shared/data unless GLASSNET_DATA says otherwise.
export GLASSNET_DATA ?= $(abspath ../shared/data)

.PHONY: demo test lint venv clean chromium example-reports docs tutorials

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "make: neither python3.11 nor python3 is on PATH;" \
	  "install Python 3.10 or newer, or name one: make$(if $(MAKECMDGOALS), $(MAKECMDGOALS)) PYTHON=/path/to/python3.11" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
	  echo "make: $(PYTHON) is not Python 3.10 or newer (glassnet needs 3.10+);" \
	  "name one: make$(if $(MAKECMDGOALS), $(MAKECMDGOALS)) PYTHON=/path/to/python3.11" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# the tutorials use the onnx and search extras too, and the optimizer pages compare with
# torch.optim (the test extra's PyTorch)
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml Makefile
	$(BIN)/python -m pip install --quiet -e ".[docs,onnx,search,test]"
	touch $@

venv: $(VENV)/.installed

## demo: train the course's 4-layer network on the cat set and write runs/demo/
demo: $(VENV)/.installed
	$(BIN)/glassnet train --dataset cats --model mlp --hidden 20,7,5 --epochs 3000 \
		--lr 0.0075 --batch-size full --seed 1 --dtype float64 --out runs/demo --overwrite

## chromium: headless Chromium and its driver for the report's browser test (Debian packages);
## when they cannot be installed (no apt-get, no root) the browser test is skipped with the reason
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); export DEBIAN_FRONTEND=noninteractive; \
	  echo "installing Debian packages chromium and chromium-driver for the report browser test"; \
	  { $$sudo apt-get install -y -q chromium chromium-driver || { $$sudo apt-get update -q && \
	    $$sudo apt-get install -y -q chromium chromium-driver; }; } >/dev/null 2>&1 || \
	  echo "could not install chromium/chromium-driver: the report browser test will be skipped"; }

## test: install the test extra (PyTorch 2.13.0 CPU included) and Chromium, lint, run the whole suite
test: $(VENV)/.test-installed chromium
	$(BIN)/python -m ruff check src tests examples benchmarks docs scripts
	$(BIN)/python -m pytest

## example-reports: retrain the example runs and refresh docs/examples/ (report + screenshot)
example-reports: $(VENV)/.test-installed chromium
	$(BIN)/python scripts/example_reports.py

lint: $(VENV)/.test-installed
	$(BIN)/python -m ruff check src tests examples benchmarks docs scripts

## docs: run the tutorials in examples/ on the real data, then build the site strictly into site/
docs: $(VENV)/.docs-installed
	$(BIN)/python docs/build_tutorials.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

## tutorials: only run the tutorials (their output and plots go to docs/tutorials/generated/)
tutorials: $(VENV)/.docs-installed
	$(BIN)/python docs/build_tutorials.py

clean:
	rm -rf $(VENV) site docs/tutorials/generated build dist src/*.egg-info .pytest_cache .ruff_cache
