# image-platform: the commands the README gives. Needs Python 3.11, pip, git, node and npm
# (the tests also use Debian's chromium and postgresql: `make install-test` installs them).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
export IMAGE_PLATFORM_HOME ?= $(CURDIR)/.image-platform
export DAGSTER_HOME ?= $(IMAGE_PLATFORM_HOME)/dagster
RUN := $(UV) run --frozen --no-sync

.PHONY: install install-test demo test lint dev instance clean drop

# Bytecode is compiled at install: every run worker, step process and dbt command imports
# dagster, dbt and the code location afresh, and where Python may not write its caches
# (PYTHONDONTWRITEBYTECODE, read-only images) each would compile them from source first
# (importing dagster, dagster-dbt and dbt with its adapter: 4.8 s against 2.5 s compiled).
install:  ## the locked Python environment in .venv, compiled to bytecode
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(RUN) python -m compileall -q assets resources

install-test: install  ## plus what the tests start: Azurite (npm), Chromium and PostgreSQL (apt)
	npm ci --no-audit --no-fund --loglevel=error
	@need=""; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	if [ -n "$$need" ]; then \
	  echo "installing$$need"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; }; \
	fi

instance:
	@mkdir -p "$(DAGSTER_HOME)"
	@cp platform/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: install instance  ## build the demo collection and materialise every asset on it
	$(RUN) python -m assets.demo run

test: install-test lint  ## the whole test suite (starts Azurite on a free loopback port)
	$(RUN) pytest

lint:  ## ruff (style, imports, docstrings) and mypy (types of assets/ and resources/)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

dev: install instance  ## the Dagster UI on http://127.0.0.1:3000
	$(RUN) dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

drop:  ## drop FILE=<image> into the incoming container (the new_blobs_sensor picks it up)
	$(RUN) python -m assets.demo drop $(FILE)

clean:
	rm -rf "$(IMAGE_PLATFORM_HOME)"
