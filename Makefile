# The single entry points, used the same way by people and by .ci/run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench install clean vendor lock

$(STAMP): pyproject.toml constraints.txt package-lock.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet "pip==26.3"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,parquet]'
	$(MAKE) vendor
	touch $(STAMP)

# npm packages the pages serve, copied into src/netatlas/site/static/vendor/ (never a CDN).
vendor:
	bash scripts/vendor.sh

install: $(STAMP)

run: $(STAMP)
	$(BIN)/netatlas serve

test: $(STAMP)
	$(BIN)/pytest -q -n 2

check: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Re-pin every Python dependency to the newest release pyproject.toml allows: a throw-away
# venv, an unconstrained install, a freeze. Review the diff, run make check and make test.
lock:
	rm -rf .lock-venv
	$(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev,parquet]'
	{ head -n 3 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv
