# esat-exchange — the two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  ?= 2025-12-15

.PHONY: run test bench setup clean docs

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

setup: $(STAMP)

# One cycle on the embedded default (SQLite, local drop area seeded from the spec's examples).
run: $(STAMP)
	$(BIN)/python -m fixtures.seed_demo var
	$(BIN)/esat-exchange --config var/esat-exchange.toml db upgrade
	$(BIN)/esat-exchange --config var/esat-exchange.toml habilitations import fixtures/examples/habpps
	$(BIN)/esat-exchange --config var/esat-exchange.toml run --as-of $(AS_OF)
	$(BIN)/python -m fixtures.show_demo var

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m fixtures.bench

docs: $(STAMP)
	$(BIN)/python -m schemas.docs > docs/RULES.md
	$(BIN)/python -m schemas.guide > docs/guide-esat.md

clean:
	rm -rf var .pytest_cache
