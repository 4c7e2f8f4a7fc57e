# Two commands: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint docs bench clean browser screenshots

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash assets_example/demo.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# The UI's browser tests drive Debian's headless Chromium through its chromedriver
# (playwright's own browser download needs the internet): installed here when missing.
browser:
	@bash scripts/install-browser

test: lint docs browser
	$(BIN)/pytest -n 2 --dist worksteal  # two workers, for the two cores; an idle one takes tests from the other

# The UI's main views on the example shop, as PNG files in docs/img/ui/ (docs/ui.md).
screenshots: $(DEV_STAMP) browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python assets_example/screenshots.py docs/img/ui

bench: $(STAMP)
	$(BIN)/python bench/run.py

# assay against Dagster (pinned in bench/peers.py), installed into a throwaway
# virtualenv under bench/.work/peers/ on the first run; never part of `make test`.
.PHONY: bench-peers
bench-peers: $(STAMP)
	$(BIN)/python bench/peers.py

clean:
	rm -rf $(VENV) .assay .mypy_cache .pytest_cache .ruff_cache site
