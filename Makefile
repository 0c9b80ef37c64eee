# Two entry points: `make demo` (the main job) and `make test` (the checks CI runs).
# Each bootstraps its own virtual environment on first use, saying what it is doing: pip runs
# quietly (-q), so each step is announced before it starts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: demo test lint typecheck unit docs docs-serve bench clean

$(STAMP): pyproject.toml
	@echo "==> Setting up $(VENV)/ (on the first run and after pyproject.toml changes;" \
		"about a minute)"
	@echo "==> [1/3] creating the virtual environment $(VENV)/"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] upgrading pip"
	$(BIN)/pip install -q --upgrade pip
	@echo "==> [3/3] installing hopx-sansio (editable, with trio) and its dev tools" \
		"(pytest, hypothesis, mypy, ruff, hopx-ai...)"
	$(BIN)/pip install -q -e '.[trio]' --group dev
	touch $(STAMP)
	@echo "==> $(VENV)/ is ready; later runs start at once"

demo: $(STAMP)
	@echo "==> running examples/demo.py: the emulator and a short sandbox session"
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

$(DOCS_STAMP): docs/requirements.txt $(STAMP)
	@echo "==> installing the documentation tools (mkdocs, mkdocs-material, mkdocstrings;" \
		"first run only)"
	$(BIN)/pip install -q -r docs/requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d $(VENV)/site

# The site with working search, on http://127.0.0.1:8000/ (search needs a server, not file://).
docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict -a 127.0.0.1:8000

test: lint typecheck docs unit

bench: $(STAMP)
	$(BIN)/python bench/stream_throughput.py
	$(BIN)/python bench/client_cpu.py
	$(BIN)/python bench/emulator_latency.py
	$(BIN)/python bench/emulator_fairness.py
	$(BIN)/python bench/preview_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
