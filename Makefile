# esat-exchange — the two commands a newcomer types: `make run` and `make test` (and `make lock` to refresh
# the lock of the Python dependencies, uv.lock).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# uv installs the venv from uv.lock; itself pinned with hashes (scripts/uv-requirements.txt), in its own venv.
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
AS_OF  ?= 2025-12-15
# make fuzz: hypothesis cases per fuzz test, then atheris runs (docs/fuzzing.md)
FUZZ_EXAMPLES ?= 3000
FUZZ_RUNS     ?= 50000

DSFR   := exchange/web/node_modules/@gouvfr/dsfr/dist/dsfr.min.css

.PHONY: run test bench fuzz setup clean docs web lock dist system image image-test bytecode

$(UV): scripts/uv-requirements.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r scripts/uv-requirements.txt
	touch $(UV)

# Exactly what uv.lock pins, hashes checked; refused when pyproject.toml changed and the lock was not refreshed.
# --compile-bytecode: the .pyc of every installed module written now (uv does not by default), so that no
# process compiles them again at start-up (where PYTHONDONTWRITEBYTECODE is set, nothing would ever write them).
$(STAMP): uv.lock pyproject.toml $(UV)
	$(UV) sync --locked --compile-bytecode --extra test --extra bench --group build
	touch $(STAMP)

# The project's own modules (installed editable: their .pyc live beside the sources), compiled when changed.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q exchange schemas fixtures

# Refresh the lock: the newest releases within pyproject.toml's ranges (then `make test` before committing it).
lock: $(UV)
	$(UV) lock --upgrade

# The system packages the suite needs (sshd, Chromium, npm, iproute2, util-linux, PostgreSQL) and the
# PostgreSQL service: installed / started when root, else one command to run is printed and make stops.
system:
	scripts/system-packages.sh

# The console's front end (the DSFR), pinned in exchange/web/package-lock.json, served locally.
$(DSFR): exchange/web/package.json exchange/web/package-lock.json
	cd exchange/web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(DSFR)

# axe-core for the browser tests' accessibility check (tests/axe.py), pinned in tests/axe/package-lock.json.
AXE := tests/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	cd tests/axe && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(AXE)

setup: $(STAMP) bytecode $(DSFR) $(AXE)

# The operator console on the `make run` demo area (http://127.0.0.1:8080/); create an account first:
#   .venv/bin/esat-exchange --config var/esat-exchange.toml operators add LOGIN --role gestionnaire
web: setup
	test -f var/esat-exchange.toml || $(MAKE) run
	$(BIN)/esat-exchange --config var/esat-exchange.toml web

# One cycle on the embedded default (SQLite, local drop area seeded from the spec's examples).
run: $(STAMP) bytecode
	$(BIN)/python -m fixtures.seed_demo var
	$(BIN)/esat-exchange --config var/esat-exchange.toml db upgrade
	$(BIN)/esat-exchange --config var/esat-exchange.toml habilitations import fixtures/examples/habpps
	$(BIN)/esat-exchange --config var/esat-exchange.toml run --as-of $(AS_OF)
	$(BIN)/python -m fixtures.show_demo var

# ESAT_REQUIRE_SERVICES: a test that finds no sshd, Chromium or PostgreSQL fails instead of skipping.
test: system setup
	ESAT_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -p no:cacheprovider

# A release (docs/operations.md, « La publication ») in $(DIST)/: the wheel and sdist (the DSFR inside, the version
# from git by setuptools-scm), the locked runtime dependencies with their hashes (requirements.txt, for
# `pip install --require-hashes`), the sample configuration, both systemd units, the operations guide, the
# changelog, and SHA256SUMS. Only the locked build tools are installed for it (.tools/build, not the dev venv),
# and npm for the DSFR.
DIST     ?= dist
BUILDENV := $(TOOLS)/build
$(BUILDENV)/.installed: uv.lock pyproject.toml $(UV)
	$(UV) export --quiet --locked --only-group build --no-emit-project --format requirements-txt --output-file $(TOOLS)/build-requirements.txt
	test -x $(BUILDENV)/bin/python || $(PYTHON) -m venv $(BUILDENV)
	$(BUILDENV)/bin/pip install --quiet --require-hashes --no-deps -r $(TOOLS)/build-requirements.txt
	touch $@

dist: $(BUILDENV)/.installed
	rm -rf $(DIST)
	$(BUILDENV)/bin/python -m build --no-isolation --outdir $(DIST) .
	$(UV) export --quiet --locked --format requirements-txt --no-emit-project --no-dev --output-file $(DIST)/requirements.txt
	install -m 0644 deploy/esat-exchange.service deploy/esat-exchange-web.service docs/operations.md CHANGELOG.md \
	  Containerfile $(DIST)/
	PYTHONPATH=. $(BUILDENV)/bin/python -m exchange.cli.config_init > $(DIST)/esat-exchange.toml.sample
	cd $(DIST) && sha256sum -- * > SHA256SUMS

# The container image (docs/operations.md, « En conteneur »): a Debian 12 base made by debootstrap from Debian's
# packages (scripts/image-base.sh, no registry), pinned by its digest, then the release of $(DIST)/ installed in
# it by `buildah bud --isolation chroot` (root). `make image-test` runs db upgrade, an import and a run inside.
IMAGE ?= localhost/esat-exchange:latest
image: dist
	digest=$$(scripts/image-base.sh) && \
	buildah bud --isolation chroot --format docker --layers=false --build-arg BASE=localhost/esat-exchange-base@$$digest \
	  $(if $(PIP_CERT),--volume $(PIP_CERT):/run/build-ca.pem:ro --build-arg PIP_CERT=/run/build-ca.pem) \
	  -f Containerfile -t $(IMAGE) $(DIST)

image-test: image
	scripts/image-test.sh $(IMAGE)

bench: setup
	$(BIN)/python -m fixtures.bench

# The long fuzz campaign: hypothesis (structure-aware) then atheris (coverage-guided) when a wheel installs.
fuzz: $(STAMP)
	ESAT_FUZZ_PROFILE=campagne ESAT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider -W ignore::hypothesis.errors.HypothesisWarning tests/core/test_fuzz.py tests/core/test_reading_oracle.py
	@$(UV) pip install --quiet --python $(BIN)/python --only-binary=:all: 'atheris>=2.3' 2>/dev/null || echo "atheris: no wheel for this Python; hypothesis campaign only"
	@if $(BIN)/python -c 'import atheris' 2>/dev/null; then \
	  mkdir -p var/fuzz && cd var/fuzz && $(CURDIR)/$(BIN)/python -m fixtures.fuzz -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=3072 -max_len=200000 -print_final_stats=1; \
	fi

docs: $(STAMP)
	$(BIN)/python -m schemas.docs > docs/RULES.md
	$(BIN)/python -m schemas.guide > docs/guide-esat.md

clean:
	rm -rf var .pytest_cache build dist
