# One entry point for developers and CI. Every target installs what it needs first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install demo test test-fast lint schemas synth deploy bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# sqlcipher3-binary (our dependency until Dec 2026) installs the same module sqlcipher3 does: remove it first.
	$(BIN)/pip uninstall --quiet -y sqlcipher3-binary 2>/dev/null || true
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo starts from an empty home every time: .inventory-demo is rebuilt, nothing else is touched.
demo: $(STAMP)
	rm -rf .inventory-demo
	$(BIN)/inventory --home .inventory-demo demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint browser
	$(BIN)/pytest -n 2

# Debian's chromium for the dashboard test (Playwright drives it); tolerated to fail (the test then skips).
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) || true

# The fast set: everything not marked slow.
test-fast: lint
	$(BIN)/pytest -m 'not slow'

schemas: $(STAMP)
	$(PY) -m events.schemas_gen

# The CloudFormation template in cdk.out/, offline once build/lambda/ holds the Lambda dependencies.
synth: $(STAMP)
	$(PY) app.py

# Needs AWS credentials and a bootstrapped account/region (npx cdk bootstrap); see docs/deploy.md.
deploy: $(STAMP)
	npm ci --no-audit --no-fund
	npx cdk deploy --require-approval broadening $(CDK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache cdk.out build node_modules

# Bytecode compiled first, as `pip install` does for an installed package: with PYTHONDONTWRITEBYTECODE
# set (as on CI machines) an editable install compiles every module of ours again at each start.
bench: $(STAMP)
	$(PY) -m compileall -q events services adapters validator kms local
	$(PY) bench/run.py
