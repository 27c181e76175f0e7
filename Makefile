# agentsync — the two front doors are `make demo` and `make test`; both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format lock clean-venv browser

# Create the virtual environment and install exactly the locked set, once.
# Re-runs only when the lock file or pyproject.toml changes.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

## The main job: embedded PostgreSQL + sandbox APIs + demo agents, end to end.
demo: $(STAMP)
	@$(BIN)/agentsync demo

## The whole test suite (slow end-to-end tests included), as CI runs it, on TEST_WORKERS
## processes (pytest-xdist; default 2, one per core here; TEST_WORKERS=0 runs it in one process).
## Each worker has its own PostgreSQL, sandbox, data dirs and PREFECT_HOME (session fixtures).
## pytest exits 5 when it collects no tests: reported here as the failure it is.
TEST_WORKERS ?= 2
test: $(STAMP) browser
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED, pytest collected no tests" >&2; fi; \
	exit $$rc

## Headless Chromium (Debian's package) for the test that opens the Data Docs with no network:
## installed when missing and this is a root shell with apt-get; otherwise that test is skipped
## and says why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } || \
	  echo "make test: chromium could not be installed; the Data Docs browser test is skipped" >&2

## Only the fast tests (skips @pytest.mark.slow) — for the edit/test loop, not for CI.
test-fast: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# --all keeps setuptools (the editable install builds with it); pip itself stays the venv's own.
lock: $(STAMP)
	@{ echo "# Frozen transitive dependency set for agentsync (Python 3.11). Regenerate with: make lock"; \
	   $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock

clean-venv:
	rm -rf $(VENV)
