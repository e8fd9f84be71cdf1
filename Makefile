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

.PHONY: all setup debs npm test lint typecheck pytest bench demo clean ha-venv

all: test

# Debian packages the tests and the demo use; installed only when a command is missing.
debs:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v socat >/dev/null 2>&1 || missing="$$missing socat"; \
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

# npm packages the tests and the portal use, each folder with its package.json and lock file
NPM_DIRS := tests/interop tests/lorawan/js portal/web

npm: debs
	@for d in $(NPM_DIRS); do \
	  if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules ]; then \
	    echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	    touch $$d/node_modules; \
	  fi; \
	done

setup: debs $(STAMP) npm

# A real Home Assistant 2024.3.3 (the last release for Python 3.11) for tests/homeassistant, in its
# own venv: made once (~4 min, mostly downloads), reused while the constraints file is unchanged.
HA_VENV  := .venv-ha
HA_STAMP := $(HA_VENV)/.installed
$(HA_STAMP): tests/homeassistant/constraints.txt tests/homeassistant/requirements.py
	@test -x $(HA_VENV)/bin/python || $(PYTHON) -m venv $(HA_VENV)
	$(HA_VENV)/bin/python -m pip install -q -c tests/homeassistant/constraints.txt homeassistant paho-mqtt
	$(HA_VENV)/bin/python tests/homeassistant/requirements.py > $(HA_VENV)/requirements.txt
	$(HA_VENV)/bin/python -m pip install -q -c tests/homeassistant/constraints.txt -r $(HA_VENV)/requirements.txt
	@touch $(HA_STAMP)

ha-venv: $(HA_STAMP)

lint: setup
	$(VENV)/bin/ruff check payload_codec bridge tools tests hil_tests portal
	$(VENV)/bin/mypy

typecheck: lint

pytest: setup ha-venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

# bridge/paho_private.py relies on paho's private names: the bridge tests also run on the lowest
# paho release the pin (paho-mqtt>=2.1,<3) allows; the venv itself has the newest. The overlay
# venv holds only that paho and sees the main venv's packages behind it (a .pth file).
PAHO_LOWEST := 2.1.0
PAHO_VENV   := $(VENV)/paho-$(PAHO_LOWEST)
PURELIB     := import sysconfig; print(sysconfig.get_paths()["purelib"])

$(PAHO_VENV)/.installed: $(STAMP)
	rm -rf $(PAHO_VENV)
	$(PY) -m venv --without-pip $(PAHO_VENV)
	lib=$$($(PAHO_VENV)/bin/python -c '$(PURELIB)') && \
	  echo "import site; site.addsitedir('$$($(PY) -c '$(PURELIB)')')" > "$$lib/trosmart-venv.pth" && \
	  $(PY) -m pip install -q --no-deps --target "$$lib" paho-mqtt==$(PAHO_LOWEST)
	@touch $@

.PHONY: pytest-paho-lowest
pytest-paho-lowest: setup $(PAHO_VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TROSMART_PAHO_EXPECT=$(PAHO_LOWEST) \
	  $(PAHO_VENV)/bin/python -m pytest tests/bridge -q $(PYTEST_PAHO_ARGS)

test: setup lint pytest pytest-paho-lowest

bench: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m tests.bench $(BENCH_ARGS)

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/trosmart demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(HA_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
