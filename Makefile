# image-platform: the commands the README gives. Needs Python 3.11, pip, git, node and npm
# (and Debian's postgresql for the tests: `make install-test` installs it with apt-get).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
export IMAGE_PLATFORM_HOME ?= $(CURDIR)/.image-platform
export DAGSTER_HOME ?= $(IMAGE_PLATFORM_HOME)/dagster
RUN := $(UV) run --frozen --no-sync

.PHONY: install install-test demo test lint dev instance clean

install:  ## the locked Python environment in .venv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --python $(PYTHON)

install-test: install  ## plus the Azure Blob emulator and the PostgreSQL server used by the tests
	npm ci --no-audit --no-fund --loglevel=error
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

instance:
	@mkdir -p "$(DAGSTER_HOME)"
	@cp platform/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: install instance  ## build the demo collection and materialise every asset on it
	$(RUN) python -m assets.demo run

test: install-test lint  ## the whole test suite (starts Azurite on a free loopback port)
	$(RUN) pytest

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .

dev: install instance  ## the Dagster UI on http://127.0.0.1:3000
	$(RUN) dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

clean:
	rm -rf "$(IMAGE_PLATFORM_HOME)"
