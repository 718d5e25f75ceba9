# newsflow: `make run` runs the pipeline on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test unit lint bench clean

KAFKA_LIBS := $(VENV)/kafka/libs
KAFKA_STAMP := $(VENV)/kafka/.installed

install: $(STAMP) $(KAFKA_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# Apache Kafka from Maven Central (deploy/kafka/pom.xml): the embedded broker of `newsflow run` and
# of the tests. Without Maven (or Java 17+) newsflow falls back to Tansu, memory-only.
$(KAFKA_STAMP): deploy/kafka/pom.xml | $(STAMP)
	@if command -v mvn >/dev/null; then \
	  rm -rf $(KAFKA_LIBS) && \
	  mvn -B -q -Dstyle.color=never -f deploy/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(KAFKA_LIBS)) && \
	  touch $@ && echo "Apache Kafka $$(ls $(KAFKA_LIBS) | sed -n 's/^kafka_2.13-\(.*\)\.jar$$/\1/p') in $(KAFKA_LIBS)"; \
	else echo "no Maven here: the local broker will be Tansu (memory-only); see README"; fi

# The demo: embedded broker, every service, the bundled sample feeds polled every 30 s.
run: install
	NEWSFLOW_POLL_INTERVAL_S=$${NEWSFLOW_POLL_INTERVAL_S:-30} $(BIN)/newsflow run

# The whole suite on Apache Kafka, then the fallback subset on Tansu (tests/conftest.py).
test: install lint
	$(BIN)/pytest -q -ra
	NEWSFLOW_TEST_BROKER=tansu $(BIN)/pytest -q -ra -m fallback

unit: install lint
	$(BIN)/pytest -q -ra tests/unit

# ruff's rules are in pyproject.toml; module and function sizes and the import rule are tests
# (tests/unit/test_codebase_rules.py).
lint: install
	$(BIN)/ruff check --quiet .

# Benchmarks (bench/): every module, figures merged into bench/results.json.
# BENCH_ONLY=poller runs one; BENCH_QUICK=1 smaller sizes; BENCH_PROFILE=1 writes pyinstrument profiles.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data *.egg-info
