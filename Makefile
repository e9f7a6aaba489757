# The single entry points, used the same way by people and by .ci/run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench install clean vendor

$(STAMP): pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,parquet]'
	$(MAKE) vendor
	touch $(STAMP)

# npm packages the pages serve, copied into src/netatlas/web/static/vendor/ (never a CDN).
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
