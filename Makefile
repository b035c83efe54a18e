# The README's two commands: `make study` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help study quick test fast clean-outputs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

study: $(INSTALLED) ## run the whole study (full settings, both models); renders outputs/study/06_analysis.html
	$(BIN)/nova-lab study

quick: $(INSTALLED) ## the same pipeline with tiny settings in a few minutes, into outputs/smoke/
	$(BIN)/nova-lab study --overlay params/smoke.yaml

test: $(INSTALLED) ## run the whole test suite: the fast lane first (a failure there stops it in a minute), then the rest
	$(BIN)/python -m pytest -m "not slow" -x
	$(BIN)/python -m pytest -m slow

fast: $(INSTALLED) ## the fast lane alone: the tests not marked slow (no training, no generation, no smoke study)
	$(BIN)/python -m pytest -m "not slow"

clean-outputs: ## remove every generated artefact and cache under outputs/ (keeps the committed analysis)
	git clean -fdXq outputs/
