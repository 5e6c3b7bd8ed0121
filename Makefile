# glassnet — quick start: `make demo`, then `make test`.
# Both create .venv with Python 3.11 (or python3) and install what they need into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The real data sets live beside the project in ../shared/data unless GLASSNET_DATA says otherwise.
export GLASSNET_DATA ?= $(abspath ../shared/data)

.PHONY: demo test lint venv clean docs tutorials

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# the tutorials use the onnx and search extras too
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs,onnx,search]"
	touch $@

venv: $(VENV)/.installed

## demo: train the course's 4-layer network on the cat set and write runs/demo/
demo: $(VENV)/.installed
	$(BIN)/glassnet train --dataset cats --model mlp --hidden 20,7,5 --epochs 3000 \
		--lr 0.0075 --batch-size full --seed 1 --dtype float64 --out runs/demo

## test: install the test extra (PyTorch 2.13.0 CPU included), lint, run the whole suite
test: $(VENV)/.test-installed
	$(BIN)/python -m ruff check src tests
	$(BIN)/python -m pytest

lint: $(VENV)/.test-installed
	$(BIN)/python -m ruff check src tests

## docs: run the tutorials in examples/ on the real data, then build the site strictly into site/
docs: $(VENV)/.docs-installed
	$(BIN)/python docs/build_tutorials.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

## tutorials: only run the tutorials (their output and plots go to docs/tutorials/generated/)
tutorials: $(VENV)/.installed
	$(BIN)/python docs/build_tutorials.py

clean:
	rm -rf $(VENV) site docs/tutorials/generated build dist src/*.egg-info .pytest_cache .ruff_cache
