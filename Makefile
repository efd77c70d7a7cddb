# esat-exchange — the two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  ?= 2025-12-15
# make fuzz: hypothesis cases per fuzz test, then atheris runs (docs/fuzzing.md)
FUZZ_EXAMPLES ?= 3000
FUZZ_RUNS     ?= 50000

DSFR   := exchange/web/node_modules/@gouvfr/dsfr/dist/dsfr.min.css

.PHONY: run test bench fuzz setup clean docs web

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# The console's front end (the DSFR), pinned in exchange/web/package-lock.json, served locally.
$(DSFR): exchange/web/package.json exchange/web/package-lock.json
	cd exchange/web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(DSFR)

# axe-core for the browser tests' accessibility check (tests/axe.py), pinned in tests/axe/package-lock.json.
AXE := tests/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	cd tests/axe && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(AXE)

setup: $(STAMP) $(DSFR) $(AXE)

# The operator console on the `make run` demo area (http://127.0.0.1:8080/); create an account first:
#   .venv/bin/esat-exchange --config var/esat-exchange.toml operators add LOGIN --role gestionnaire
web: setup
	test -f var/esat-exchange.toml || $(MAKE) run
	$(BIN)/esat-exchange --config var/esat-exchange.toml web

# One cycle on the embedded default (SQLite, local drop area seeded from the spec's examples).
run: $(STAMP)
	$(BIN)/python -m fixtures.seed_demo var
	$(BIN)/esat-exchange --config var/esat-exchange.toml db upgrade
	$(BIN)/esat-exchange --config var/esat-exchange.toml habilitations import fixtures/examples/habpps
	$(BIN)/esat-exchange --config var/esat-exchange.toml run --as-of $(AS_OF)
	$(BIN)/python -m fixtures.show_demo var

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python -m fixtures.bench

# The long fuzz campaign: hypothesis (structure-aware) then atheris (coverage-guided) when a wheel installs.
fuzz: $(STAMP)
	ESAT_FUZZ_PROFILE=campagne ESAT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider -W ignore::hypothesis.errors.HypothesisWarning tests/test_fuzz.py
	@$(BIN)/pip install --quiet --only-binary=:all: 'atheris>=2.3' 2>/dev/null || echo "atheris: no wheel for this Python; hypothesis campaign only"
	@if $(BIN)/python -c 'import atheris' 2>/dev/null; then \
	  mkdir -p var/fuzz && cd var/fuzz && $(CURDIR)/$(BIN)/python -m fixtures.fuzz -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=3072 -max_len=200000 -print_final_stats=1; \
	fi

docs: $(STAMP)
	$(BIN)/python -m schemas.docs > docs/RULES.md
	$(BIN)/python -m schemas.guide > docs/guide-esat.md

clean:
	rm -rf var .pytest_cache
