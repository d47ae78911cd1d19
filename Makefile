# retune: every way in is a make target. `make test` sets up everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime's Python (3.13), from pyenv where it is installed, else from PATH.
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13) $(shell command -v python3.13))
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-tools/sam
SAM := $(SAM_VENV)/bin/sam
# `sam build` finds python3.13 through pyenv only when PYENV_VERSION lists it.
export PYENV_VERSION := 3.13.0:3.11.7
export AWS_DEFAULT_REGION ?= us-east-1
PIP := $(PY) -m pip --disable-pip-version-check -q
BUILD_DIR := .aws-sam/build

.PHONY: help venv tools test test-unit lint format build schema lock demo bench clean

help:
	@echo "make demo     run the whole loop offline on real market data (see README)"
	@echo "make test     set up the venvs and run every fast suite (unit, integration, infrastructure)"
	@echo "make lint     ruff, mypy, cfn-lint, sam validate --lint"
	@echo "make build    sam build, then check the built layer"
	@echo "make schema   regenerate schemas/ from the pydantic models"
	@echo "make lock     re-pin constraints.txt and the layer's requirements after changing pyproject.toml"

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0) or set PYTHON313"; exit 1; }
	test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed: tools/sam-requirements.txt tools/sam-constraints.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip --disable-pip-version-check -q install -c tools/sam-constraints.txt -r tools/sam-requirements.txt
	touch $@

venv: $(VENV)/.installed
tools: $(SAM_VENV)/.installed

test: venv tools
	$(PY) -m pytest -q -n 2 -m "not slow"

test-unit: venv
	$(PY) -m pytest -q tests/unit

lint: venv tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

build: venv tools
	$(SAM) build --build-dir $(BUILD_DIR)
	$(PY) scripts/check_layer.py $(BUILD_DIR)

schema: venv
	$(PY) scripts/schemas.py

lock: venv
	$(PY) scripts/lock.py

DROPS ?= 4
PROFILE ?= market-xgb
demo: venv
	$(PY) -m retune_local.demo --drops $(DROPS) --profile $(PROFILE)

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache
