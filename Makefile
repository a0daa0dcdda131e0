# Two commands for a new user: `make run` and `make test`. Both bootstrap .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BUNDLES ?= bundles
SAMPLE_BUNDLE := $(BUNDLES)/sample
PORT ?= 8501
# CPU threads for training the sample bundle (the brief's machines have two cores).
THREADS ?= 2

.PHONY: run test lint bench bench-peers sample-bundle clean

# The app needs requirements.txt only; tests and benchmarks add requirements-dev.txt.
$(VENV)/.runtime: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Order-only: the bundle is built when missing, not rebuilt (and refused) after a reinstall.
$(SAMPLE_BUNDLE)/manifest.json: | $(VENV)/.runtime
	$(VENV)/bin/recaudit train sample_data/interactions.parquet --items sample_data/items.parquet --blend learned \
		--session gru --transfer gated --threads $(THREADS) \
		--out $(SAMPLE_BUNDLE)

sample-bundle: $(SAMPLE_BUNDLE)/manifest.json

run: $(VENV)/.runtime sample-bundle
	$(VENV)/bin/recaudit serve --bundles $(BUNDLES) --port $(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# RePlay, a peer in bench_engines, pins pandas < 3 and pyarrow < 24: it gets its own virtualenv.
PEERS := .venv-peers
$(PEERS)/.installed:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet replay-rec==0.22.0 pyspark==4.0.5
	touch $@

bench-peers: $(PEERS)/.installed

bench: $(VENV)/.installed bench-peers
	$(PY) -m pip install --quiet -r requirements-spark.txt
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_quality.py
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_projection.py
	$(PY) benchmarks/bench_coldstart.py
	$(PY) benchmarks/bench_sessions.py
	$(PY) benchmarks/bench_crossdomain.py
	$(PY) benchmarks/bench_engines.py --replay-python $(PEERS)/bin/python

clean:
	rm -rf $(VENV) $(PEERS) $(BUNDLES) .pytest_cache .ruff_cache
