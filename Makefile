# Two entry points: `make demo` (the main job) and `make test` (the checks CI runs).
# Each bootstraps its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: demo test lint typecheck unit docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[trio,asyncio]' --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

$(DOCS_STAMP): docs/requirements.txt $(STAMP)
	$(BIN)/pip install -q -r docs/requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d $(VENV)/site

test: lint typecheck docs unit

bench: $(STAMP)
	$(BIN)/python bench/stream_throughput.py
	$(BIN)/python bench/client_cpu.py
	$(BIN)/python bench/emulator_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
