# TroSmart: one-command set-up on a fresh Debian machine (Python >= 3.10, root or sudo).
#   make demo   the main job: virtual nodes -> simulated network server -> bridge -> city broker, live view
#   make test   everything: lint, types, unit/property/integration tests, HIL scenarios on the virtual board
#   make bench  benchmarks (ratios against the baselines the issues name)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := mosquitto mosquitto-clients nodejs socat npm postgresql chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup debs test lint typecheck pytest bench demo clean

all: test

# Debian packages the tests and the demo use; installed only when a command is missing.
debs:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v socat >/dev/null 2>&1 || missing="$$missing socat"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $(STAMP)

# the portal's front-end libraries (Leaflet, uPlot) from npm, served by the portal itself
PORTAL_WEB := portal/web
$(PORTAL_WEB)/node_modules/.installed: $(PORTAL_WEB)/package.json $(PORTAL_WEB)/package-lock.json
	cd $(PORTAL_WEB) && npm ci --no-audit --no-fund --silent
	@touch $@

setup: debs $(STAMP) $(PORTAL_WEB)/node_modules/.installed

lint: setup
	$(VENV)/bin/ruff check payload_codec bridge tools tests hil_tests portal
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
