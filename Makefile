.PHONY: install test lint bench demo conformance

VENV ?= .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'

install: $(PY)

test: $(PY)
	$(PY) -m pytest --cov

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

conformance: $(PY)
	PATH=$(VENV)/bin:$$PATH ../shared/bin/conformance

bench: $(PY)
	$(PY) -m bench $(BENCH_ARGS)

demo: $(PY)
	$(VENV)/bin/media-ingest demo
