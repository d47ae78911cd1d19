# retune: every way in is a make target. `make test` sets up everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime's Python (3.13), from pyenv where it is installed, else from PATH.
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13) $(shell command -v python3.13))
# The emulated built-in XGBoost versions' venvs run on 3.11 (the oldest xgboost's numpy has wheels for it).
PYTHON311 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11.*/bin/python3.11) $(shell command -v python3.11))
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-tools/checkov
# checkov offline: no guideline download, no call to its platform.
CHECKOV := BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation
# `sam build` finds python3.13 through pyenv only when PYENV_VERSION lists it.
export PYENV_VERSION := 3.13.0:3.11.7
export AWS_DEFAULT_REGION ?= us-east-1
PIP := $(PY) -m pip --disable-pip-version-check -q
BUILD_DIR := .aws-sam/build

.PHONY: help venv tools xgboost-venvs torch-venv clients test test-clients test-unit test-reliability security lint format build schema lock demo local bench bench-load bench-reference bench-efficiency bench-policy bench-cold-start clean

help:
	@echo "make demo     run the whole loop offline on real market data (see README); PROFILE=churn-xgb: docs/churn.md"
	@echo "make local    the local stack in the foreground (STATE=out/demo/state: the demo's, to explore with the CLI)"
	@echo "make test     set up the venvs and run every fast suite (unit, integration, infrastructure)"
	@echo "make test-clients  AWS's own clients (SageMaker SDK v2 and v3, AWS CLI) against the local SageMaker"
	@echo "make test-reliability   the long reliability runs: replays, the whole fault sweep, many seeds"
	@echo "make security checkov on template.yaml and on the SAM-transformed template"
	@echo "make lint     ruff, format check, mypy, pylint duplicate-code, cfn-lint, sam validate --lint"
	@echo "make build    sam build, then check the built layer"
	@echo "make schema   regenerate schemas/ from the pydantic models"
	@echo "make lock     re-pin constraints.txt and the layer's requirements after changing pyproject.toml"
	@echo "make bench    every benchmark (bench-load, bench-reference, bench-efficiency, bench-policy, bench-cold-start; see docs/benchmarks.md)"
	@echo "make format   ruff format and ruff --fix;  make test-unit  the unit tests alone;  make clean  remove build output and caches"

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
# checkov pins boto3 and more: its own venv (installs in about 30 s).
$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt tools/checkov-constraints.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip --disable-pip-version-check -q install -c tools/checkov-constraints.txt -r tools/checkov-requirements.txt
	touch $@

tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# One venv per emulated version of SageMaker's built-in XGBoost (local/retune_local/builtin_xgboost.py), each with
# that version's xgboost: about 45 s each on a fresh machine, then reused.
XGBOOST_VERSIONS := 1.7.6 3.0.5
XGBOOST_VENVS := $(foreach v,$(XGBOOST_VERSIONS),.venv-tools/xgboost-$(v)/.installed)
.venv-tools/xgboost-%/.installed: tools/xgboost-%-requirements.txt
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: install it (pyenv install 3.11.7) or set PYTHON311"; exit 1; }
	test -x $(@D)/bin/python || $(PYTHON311) -m venv $(@D)
	$(@D)/bin/pip --disable-pip-version-check -q install -r $<
	touch $@

xgboost-venvs: $(XGBOOST_VENVS)

# The sequence trainer's Python (trainers/market_sequence): 3.11 with torch's CPU build, the wheel that lies in pip's
# find-links on this machine and CI (about 90 s on a fresh machine, most of it unpacking torch), then reused. The
# control plane (.venv, 3.13) never imports torch. A CUDA build is refused (tools/torch-check-cpu.py).
TORCH_VENV := .venv-tools/torch
$(TORCH_VENV)/.installed: tools/torch-requirements.txt tools/torch-check-cpu.py
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: install it (pyenv install 3.11.7) or set PYTHON311"; exit 1; }
	test -x $(@D)/bin/python || $(PYTHON311) -m venv $(@D)
	$(@D)/bin/pip --disable-pip-version-check -q install -r tools/torch-requirements.txt
	$(@D)/bin/python tools/torch-check-cpu.py
	touch $@

torch-venv: $(TORCH_VENV)/.installed

# AWS's own clients, each in its venv (they pin their own boto3): clients-sdk2 (SageMaker Python SDK v2),
# clients-sdk3 (v3), clients-awscli (the AWS CLI v1, the one on PyPI). Built once, then reused.
CLIENT_VENVS := sdk2 sdk3 awscli
.venv-tools/clients-%/.installed: tools/clients-%-requirements.txt tools/clients-%-constraints.txt
	test -x $(@D)/bin/python || $(PYTHON313) -m venv $(@D)
	$(@D)/bin/pip --disable-pip-version-check -q install -c tools/clients-$*-constraints.txt -r tools/clients-$*-requirements.txt
	touch $@

clients: $(foreach c,$(CLIENT_VENVS),.venv-tools/clients-$(c)/.installed)

# Everything the fast suites need, built side by side (each venv is its own pip run; mostly download and unpack).
TEST_SETUP := $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(XGBOOST_VENVS) .venv-tools/clients-awscli/.installed \
	$(TORCH_VENV)/.installed

# loadgroup: the tests of one xdist_group share a worker (the IAM trace is recorded once per run).
# The AWS CLI's checks (tests/clients/test_awscli.py) run here; its venv installs in about 15 s.
test:
	$(MAKE) --no-print-directory -j4 $(TEST_SETUP)
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow"

# Every client flow (the SDKs' are marked slow): see docs/local-sagemaker.md, "AWS's own clients".
test-clients: venv clients
	$(PY) -m pytest -q -n 2 tests/clients

test-unit: venv
	$(PY) -m pytest -q tests/unit

# The long reliability runs (pytest marker `slow`): e.g. 250 shuffled replays, and 5 on the local stack.
test-reliability: venv
	$(PY) -m pytest -q -m slow tests/replay
	$(PY) -m pytest -q -n 2 -m slow tests/reliability

# checkov on the template as written and as the SAM transform makes it (the roles and rules SAM generates).
# A check is skipped only in the template, each skip with its reason (docs/reliability.md).
security: venv tools
	$(CHECKOV) -f template.yaml
	$(CHECKOV) -f roles/profile-role.yaml
	mkdir -p out
	$(SAM_VENV)/bin/python scripts/sam_transform.py template.yaml > out/template.transformed.json
	$(CHECKOV) -f out/template.transformed.json

# 10,000 training job events through RecordTrial on the local stack; writes benchmarks/results/load.json.
bench-load: venv
	$(PY) benchmarks/load.py

# Every benchmark (each bench-* target).
bench: bench-load bench-reference bench-efficiency bench-policy bench-cold-start

# The efficiency benchmark's frozen reference (benchmarks/results/reference.json, committed): made only when it is
# missing, or with REMAKE_REFERENCE=1. REFERENCE_ARGS sets its scale (default: 2 seeds x 60 trials per window).
REFERENCE_ARGS ?=
bench-reference: venv
	@if [ -f benchmarks/results/reference.json ] && [ -z "$(REMAKE_REFERENCE)" ]; then \
		echo "benchmarks/results/reference.json is frozen (made by: $$(sed -n 's/.*"command": "\(.*\)",/\1/p' benchmarks/results/reference.json)); REMAKE_REFERENCE=1 to remake it"; \
	else $(PY) -m benchmarks.reference $(REFERENCE_ARGS); fi

# retune against AMT-default, no early stopping, Random, Hyperband: 8 drops x 5 seeds x 2 workloads, resumable
# (cached in out/bench/efficiency); writes benchmarks/results/efficiency.json and docs/benchmarks.md.
EFFICIENCY_ARGS ?=
bench-efficiency: venv bench-reference
	$(PY) -m benchmarks.efficiency $(EFFICIENCY_ARGS)

# Each handler's import and first invocation against `import boto3` and its clients, in fresh interpreters;
# writes benchmarks/results/cold_start.json (COLD_START_ARGS, e.g. --runs 20).
COLD_START_ARGS ?=
bench-cold-start: venv
	$(PY) benchmarks/cold_start.py $(COLD_START_ARGS)

# The fast loop for tuning the policy: XGBoost, 3 seeds, 4 rounds, AMT-default and retune; shares the cache of
# bench-efficiency (out/bench/efficiency) and writes out/bench/efficiency-policy-loop.json and .md.
bench-policy: venv
	$(PY) -m benchmarks.efficiency --policy-loop

lint: venv tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pylint layers/core/retune functions cli/retune_cli local/retune_local
	$(VENV)/bin/cfn-lint template.yaml roles/profile-role.yaml
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
# The local stack enforces IAM as the SAM-transformed template defines the roles: it needs the SAM CLI's venv.
# PROFILE=churn-xgb runs SageMaker's built-in XGBoost 1.7-1 and the churn evaluator on XGBoost 1.7.6 (docs/churn.md).
# PROFILE=market-seq runs the LSTM/Transformer trainer in the torch venv (docs/market-seq.md).
demo: venv $(SAM_VENV)/.installed $(if $(filter churn-xgb,$(PROFILE)),.venv-tools/xgboost-1.7.6/.installed) \
	$(if $(filter market-seq,$(PROFILE)),$(TORCH_VENV)/.installed)
	$(PY) -m retune_local.demo --drops $(DROPS) --profile $(PROFILE)

# The local stack in the foreground with the market trainers (docs/local-mode.md). Its state is kept in STATE across
# restarts: `make local STATE=out/demo/state` brings back the demo's stack for the CLI
# (.venv/bin/retune --endpoints-file out/local/endpoints.json rounds market-xgb). Ctrl-C saves and stops it.
STATE ?= out/local/state
MARKET_IMAGES := $(foreach f,xgb mlp,--image retune/market-volatility-$(f)='python -m trainers.market_volatility $(f) train' \
	--preload retune/market-volatility-$(f)=trainers.market_volatility.$(f) --seconds-per-epoch retune/market-volatility-$(f)=2)
# The churn profile's evaluator (docs/churn.md) runs on the built-in algorithm's XGBoost; its trainer, SageMaker's
# built-in XGBoost, needs no mapping.
CHURN_IMAGES := --image retune/churn-evaluate='$(CURDIR)/.venv-tools/xgboost-1.7.6/bin/python -m trainers.churn_evaluate train'
local: venv $(SAM_VENV)/.installed .venv-tools/xgboost-1.7.6/.installed
	mkdir -p out/local
	PYTHONPATH=$(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH)) $(PY) -m retune_local serve --state-dir $(STATE) --endpoints-file out/local/endpoints.json \
		--event-log out/local/events.jsonl $(MARKET_IMAGES) $(CHURN_IMAGES)

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache
