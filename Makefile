# newsflow: `make run` runs the pipeline on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# The demo: embedded broker, every service, the bundled sample feeds polled every 30 s.
run: install
	NEWSFLOW_POLL_INTERVAL_S=$${NEWSFLOW_POLL_INTERVAL_S:-30} $(BIN)/newsflow run

test: install
	$(BIN)/pytest -q -ra

unit: install
	$(BIN)/pytest -q -ra tests/unit

# Benchmarks (bench/): every module, figures merged into bench/results.json.
# BENCH_ONLY=poller runs one; BENCH_QUICK=1 smaller sizes; BENCH_PROFILE=1 writes pyinstrument profiles.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data *.egg-info
