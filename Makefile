# The commands the README names. Everything runs from a virtualenv in .venv
# that these targets create, so a fresh machine needs only Python and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/k6host run --with-echo examples/hello.js

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Benchmarks beside Node.js, asyncio, Locust and k6 (see bench/run.py); not part of CI.
bench: $(STAMP)
	$(BIN)/pip install --quiet locust
	$(BIN)/python bench/run.py

# Ten minutes of connection churn with the RSS sampled every 10 s; not part of CI.
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes 10

clean:
	rm -rf $(VENV) build *.egg-info
