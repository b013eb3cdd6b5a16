# One command to run the dashboard, one to run every test. CI calls `make test` (see .ci/run).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# Byte-compile the installed packages: where PYTHONDONTWRITEBYTECODE is set, every cold start
# would otherwise compile scikit-learn, SciPy and Plotly from source (seconds per page load).
COMPILE := $(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null

.PHONY: run serve test install install-test lint sample bench clean screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv

install: $(PY)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e .
	$(COMPILE)

install-test: $(PY)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e ".[test]"
	$(COMPILE)

# Install and open the dashboard on the bundled sample data at http://localhost:8501
run: install
	$(PY) -m streamlit run dashboard/server.py

# Host it for a team: sign-in required, on 0.0.0.0:8501 (README: "Hosting for a team")
serve: install
	$(PY) -m dashboard serve

# Install and run the whole test suite (lint first: it is the cheapest check)
test: install-test lint
	$(PY) -m pytest

# Retake the README's screenshots (docs/screenshots) with the browser tests; `make test` writes
# its screenshots to test-artifacts/ and leaves the tracked ones alone.
screenshots: install-test
	CRM_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/test_browser.py -q

lint: $(PY)
	$(VENV)/bin/ruff check dashboard pages metrics sample_data tests benchmarks

# Regenerate the committed default dataset (deterministic)
sample: install
	$(PY) -m sample_data.generate --customers 5000 --seed 7 --out sample_data/default

bench: install-test
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.metrics
	$(PY) -m benchmarks.pages

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
