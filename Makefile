# TroSmart: one-command set-up on a fresh Debian machine (Python >= 3.10, root or sudo).
#   make demo   the main job: virtual nodes -> simulated network server -> bridge -> city broker, live view
#   make test   everything: lint, types, unit/property/integration tests, HIL scenarios on the virtual board
#   make bench  benchmarks (ratios against the baselines the issues name)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := mosquitto mosquitto-clients nodejs socat
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup lorawan-js debs test lint typecheck pytest bench demo clean

all: test

# Debian packages the tests and the demo use; installed only when a command is missing.
debs:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v socat >/dev/null 2>&1 || missing="$$missing socat"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $(STAMP)

setup: debs $(STAMP) lorawan-js

# lora-packet (npm), the independent implementation tests/lorawan checks the MAC against
lorawan-js: tests/lorawan/js/node_modules/.package-lock.json
tests/lorawan/js/node_modules/.package-lock.json: tests/lorawan/js/package-lock.json
	cd tests/lorawan/js && npm ci --no-audit --no-fund --silent

lint: setup
	$(VENV)/bin/ruff check payload_codec bridge tools tests hil_tests
	$(VENV)/bin/mypy

typecheck: lint

pytest: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

test: setup lint pytest

bench: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m tests.bench $(BENCH_ARGS)

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/trosmart demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
