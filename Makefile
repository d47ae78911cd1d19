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
# uv makes and fills every venv (tools/uv-requirements.txt pins it; pip installs it in its own venv, in seconds):
# it resolves and unpacks in parallel, where pip took most of make test's set-up (the project's venv alone: 2 min 27 s
# with pip and its bytecode, 13 s with uv and none). No venv gets bytecode at install: a whole test run imports about
# one module in seven of the project's venv, and compiling every module cost more than the set-up's downloads.
# Instead, Python writes each module's bytecode at its first import, for every later process to reuse: this machine's
# environment (and CI's) sets PYTHONDONTWRITEBYTECODE=1, under which every process of a test run (hundreds: workers,
# stacks, trainers) compiled every module it imported, again. The recipes run without it.
unexport PYTHONDONTWRITEBYTECODE
UV_VENV := .venv-tools/uv
UV := $(UV_VENV)/bin/uv
UV_INSTALL = $(UV) pip install -q --python $(@D)/bin/python
BUILD_DIR := .aws-sam/build

.PHONY: help venv tools mlflow-venv mlflow-ui xgboost-venvs torch-venv clients test test-clients test-unit test-reliability security lint format build schema lock demo local bench bench-load bench-reference bench-efficiency bench-efficiency-chunks bench-policy bench-cold-start awscli-v2 clean

help:
	@echo "make demo     run the whole loop offline on real market data (see README); PROFILE=churn-xgb: docs/churn.md"
	@echo "make local    the local stack in the foreground (STATE=out/demo/state: the demo's, to explore with the CLI)"
	@echo "make mlflow-ui  MLflow's UI on the demo's tracking data (STATE=... another state directory's)"
	@echo "make test     set up the venvs and run every fast suite (unit, integration, infrastructure)"
	@echo "make test-clients  AWS's own clients (SageMaker SDK v2 and v3, AWS CLI v1 and v2) against the local SageMaker (v2: apt's awscli if none)"
	@echo "make test-reliability   the long reliability runs: replays, the whole fault sweep, many seeds"
	@echo "make security checkov on template.yaml and on the SAM-transformed template"
	@echo "make lint     ruff, format check, mypy, pylint duplicate-code, cfn-lint, sam validate --lint"
	@echo "make build    sam build, then check the built layer"
	@echo "make schema   regenerate schemas/ from the pydantic models"
	@echo "make lock     re-pin constraints.txt and the layer's requirements after changing pyproject.toml"
	@echo "make bench    every benchmark (bench-load, bench-reference, bench-efficiency, bench-policy, bench-cold-start; see docs/benchmarks.md)"
	@echo "make format   ruff format and ruff --fix;  make test-unit  the unit tests alone;  make clean  remove build output and caches"

$(UV_VENV)/.installed: tools/uv-requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0) or set PYTHON313"; exit 1; }
	test -x $(UV_VENV)/bin/python || $(PYTHON313) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip --disable-pip-version-check -q install -r $<
	touch $@

# The project's venv has pip too (--seed): scripts/lock.py pins with pip freeze.
$(VENV)/.installed: pyproject.toml constraints.txt | $(UV_VENV)/.installed
	test -x $(PY) || $(UV) venv -q --seed --python $(PYTHON313) $(VENV)
	$(UV_INSTALL) -c constraints.txt -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed: tools/sam-requirements.txt tools/sam-constraints.txt | $(UV_VENV)/.installed
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON313) $(@D)
	$(UV_INSTALL) -c tools/sam-constraints.txt -r tools/sam-requirements.txt
	touch $@

venv: $(VENV)/.installed
# checkov pins boto3 and more: its own venv.
$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt tools/checkov-constraints.txt | $(UV_VENV)/.installed
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON313) $(@D)
	$(UV_INSTALL) -c tools/checkov-constraints.txt -r tools/checkov-requirements.txt
	touch $@

tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# MLflow's tracking server (`mlflow server`), which the local stack runs when tracking is on, and its client for the
# tests: its own venv (it pins SQLAlchemy, FastAPI, pandas, ...).
MLFLOW_VENV := .venv-tools/mlflow
$(MLFLOW_VENV)/.installed: tools/mlflow-requirements.txt tools/mlflow-constraints.txt | $(UV_VENV)/.installed
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON313) $(@D)
	$(UV_INSTALL) -c tools/mlflow-constraints.txt -r tools/mlflow-requirements.txt
	touch $@

mlflow-venv: $(MLFLOW_VENV)/.installed

# One venv per emulated version of SageMaker's built-in XGBoost (local/retune_local/builtin_xgboost.py), each with
# that version's xgboost, built once, then reused.
XGBOOST_VERSIONS := 1.7.6 3.0.5
XGBOOST_VENVS := $(foreach v,$(XGBOOST_VERSIONS),.venv-tools/xgboost-$(v)/.installed)
.venv-tools/xgboost-%/.installed: tools/xgboost-%-requirements.txt | $(UV_VENV)/.installed
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: install it (pyenv install 3.11.7) or set PYTHON311"; exit 1; }
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON311) $(@D)
	$(UV_INSTALL) -r $<
	touch $@

xgboost-venvs: $(XGBOOST_VENVS)

# The sequence trainer's Python (trainers/market_sequence): 3.11 with torch's CPU build, the wheel that lies in pip's
# find-links on this machine and CI (uv reads no pip configuration: FIND_LINKS is pip's, from its environment variable
# or its configuration), then reused. The control plane (.venv, 3.13) never imports torch. A CUDA build is refused
# (tools/torch-check-cpu.py).
TORCH_VENV := .venv-tools/torch
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell python3 -m pip config get global.find-links 2>/dev/null))
$(TORCH_VENV)/.installed: tools/torch-requirements.txt tools/torch-check-cpu.py | $(UV_VENV)/.installed
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: install it (pyenv install 3.11.7) or set PYTHON311"; exit 1; }
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON311) $(@D)
	$(UV_INSTALL) $(foreach d,$(FIND_LINKS),--find-links $(d)) -r tools/torch-requirements.txt
	$(@D)/bin/python tools/torch-check-cpu.py
	touch $@

torch-venv: $(TORCH_VENV)/.installed

# AWS's own clients, each in its venv (they pin their own boto3): clients-sdk2 (SageMaker Python SDK v2),
# clients-sdk3 (v3), clients-awscli (the AWS CLI v1, the one on PyPI). Built once, then reused.
CLIENT_VENVS := sdk2 sdk3 awscli
.venv-tools/clients-%/.installed: tools/clients-%-requirements.txt tools/clients-%-constraints.txt | $(UV_VENV)/.installed
	test -x $(@D)/bin/python || $(UV) venv -q --python $(PYTHON313) $(@D)
	$(UV_INSTALL) -c tools/clients-$*-constraints.txt -r tools/clients-$*-requirements.txt
	touch $@

clients: $(foreach c,$(CLIENT_VENVS),.venv-tools/clients-$(c)/.installed)

# Everything the fast suites need, built side by side (each venv is its own uv run).
TEST_SETUP := $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(XGBOOST_VENVS) .venv-tools/clients-awscli/.installed \
	$(TORCH_VENV)/.installed

# loadgroup: the tests of one xdist_group share a worker (the IAM trace is recorded once per run).
# The AWS CLI's checks (tests/clients/test_awscli.py) run here. --durations: where the time goes, in every log.
test:
	$(MAKE) --no-print-directory -j4 $(TEST_SETUP)
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow" --durations=15

# The AWS CLI v2, for `aws logs tail` (v1 has none; v2 is not on PyPI): `aws` on PATH or /usr/bin/aws if either is
# a v2 (or AWS_CLI_V2=<path>), else Debian's `awscli` package (bookworm's is 2.9.19) installed with apt, on the
# system python3 and outside the project's venvs. Idempotent; says what to do where apt is not available.
awscli-v2:
	@sh tools/awscli-v2.sh >/dev/null

# Every client flow (the SDKs' and the AWS CLI v2's are marked slow): see docs/local-sagemaker.md, "AWS's own clients".
test-clients: venv clients
	AWS_CLI_V2="$$(sh tools/awscli-v2.sh)" && export AWS_CLI_V2 && echo "AWS CLI v2: $$AWS_CLI_V2" && \
		$(PY) -m pytest -q -n 2 --dist loadgroup tests/clients

test-unit: venv
	$(PY) -m pytest -q tests/unit

# The long reliability runs (pytest marker `slow`): e.g. 250 shuffled replays, and 5 on the local stack.
# The local stack's tracking runs (two drops mirrored into MLflow, a replay, an outage and a resync; a restart) are
# here too, and `serve`'s save on SIGTERM and the churn demo's tiny drop: tests/local, marked slow.
test-reliability: venv $(SAM_VENV)/.installed $(MLFLOW_VENV)/.installed .venv-tools/xgboost-1.7.6/.installed
	$(PY) -m pytest -q -m slow tests/replay
	$(PY) -m pytest -q -n 2 -m slow tests/reliability
	$(PY) -m pytest -q -n 2 -m slow tests/local/test_tracking_local.py tests/local/test_tracking_real.py \
		tests/local/test_restart.py tests/local/test_demo_churn.py

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

# The efficiency benchmark's reference (benchmarks/results/reference.json, committed): searches the windows it lacks
# (the committed 8 are kept), then re-scores each window's top configurations with 3 trainer seeds where they are
# recorded; does nothing once every window is done. REFERENCE_ARGS: a chunk (--workloads xgb --only 2019-01-01 ...)
# or the scale (--seeds N --trials N); REMAKE_REFERENCE=1 searches every window again.
REFERENCE_ARGS ?=
bench-reference: venv
	$(PY) -m benchmarks.reference $(if $(REMAKE_REFERENCE),--remake) $(REFERENCE_ARGS)

# retune against AMT-default, the two budget-matched anchors, no early stopping, Random, Hyperband: 15 windows x 10
# seeds x 2 workloads, in chunks of at most 2 hours (CHUNK=N, `make bench-efficiency-chunks` lists them), each
# resumable (cached in out/bench/efficiency) and writing its per-seed files under benchmarks/results/efficiency/
# (commit them); then writes benchmarks/results/efficiency.json and docs/benchmarks.md from every committed file.
# Without CHUNK, the whole run at once (hours). EFFICIENCY_ARGS=--report-only only reports. The reference is made
# apart, in its own chunks (bench-reference); a window it lacks is reported against the best any arm found.
EFFICIENCY_ARGS ?=
CHUNK ?=
bench-efficiency: venv
	$(PY) -m benchmarks.efficiency $(if $(CHUNK),--chunk $(CHUNK)) $(EFFICIENCY_ARGS)

bench-efficiency-chunks: venv
	$(PY) -m benchmarks.efficiency --list-chunks

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
# The demo mirrors its rounds and trials into a local MLflow server through the Track function
# (`make mlflow-ui` shows them afterwards; --no-tracking in the demo's arguments turns it off).
# PROFILE=market-seq runs the LSTM/Transformer trainer in the torch venv (docs/market-seq.md).
demo: venv $(SAM_VENV)/.installed $(MLFLOW_VENV)/.installed $(if $(filter churn-xgb,$(PROFILE)),.venv-tools/xgboost-1.7.6/.installed) \
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
local: venv $(SAM_VENV)/.installed $(MLFLOW_VENV)/.installed .venv-tools/xgboost-1.7.6/.installed
	mkdir -p out/local
	PYTHONPATH=$(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH)) $(PY) -m retune_local serve --state-dir $(STATE) --endpoints-file out/local/endpoints.json \
		--event-log out/local/events.jsonl $(MARKET_IMAGES) $(CHURN_IMAGES)

# MLflow's UI on a state directory's tracking data (default: the demo's), on http://127.0.0.1:$(MLFLOW_PORT); the
# same server the local stack runs while tracking (retune_local.mlflow_server). Ctrl-C stops it.
MLFLOW_PORT ?= 5000
mlflow-ui: STATE = out/demo/state
mlflow-ui: $(MLFLOW_VENV)/.installed
	@test -f $(STATE)/mlflow/mlflow.db || { echo "$(STATE)/mlflow/mlflow.db: no tracking data there (make demo, or make local with tracking, writes it)"; exit 1; }
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(MLFLOW_VENV)/bin/mlflow server --backend-store-uri sqlite:///$(abspath $(STATE))/mlflow/mlflow.db \
		--artifacts-destination $(abspath $(STATE))/mlflow/artifacts --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

clean:
	rm -rf .aws-sam out .pytest_cache .mypy_cache .ruff_cache
