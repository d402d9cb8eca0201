# anpr-edge — setup is code. `make demo` and `make test` work on a fresh Debian/Ubuntu box.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: demo test lint check deps system-deps install-check clean

# System packages: mosquitto (the tests start their own throwaway brokers; the
# packaged service is not used), postgresql (the hub's tests start a throwaway
# cluster on a free port), chromium (the hub's recipient page and the demo report are
# checked headless),
# python3-venv where Debian splits it out, and the
# plate renderer's fonts (DIN 1451 from fonts-opendin, DejaVu).
system-deps:
	@need=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$$need mosquitto"; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$$need python3-venv"; \
	[ -f /usr/share/fonts/truetype/opendin/OSP-DIN.ttf ] || need="$$need fonts-opendin"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf ] || need="$$need fonts-dejavu-core"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf ] || need="$$need fonts-dejavu-extra"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	if [ -n "$$need" ]; then \
	  echo "installing:$$need"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$need; \
	fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "anpr-edge needs Python >= 3.11 (set PYTHON=python3.11)")'

$(BIN)/.installed: pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=70.1'  # builds wheels itself (install-check)
	$(BIN)/python -m pip install --quiet -e '.[dev,sim,hub]'
	touch $@

deps: system-deps $(BIN)/.installed

## make demo: set up and run the simulator demo on embedded defaults
demo: deps
	$(BIN)/anpr-sim demo

## make lint: ruff, and mypy --strict on agent/, hub/, simulator/ and tests/
lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict agent hub simulator tests

## make test: set up, lint, type-check and run the whole test suite (real mosquitto),
## then install the built wheel as a user does and check it (install-check)
test: lint
	$(BIN)/anpr-agent check-config config/agent.example.toml
	$(BIN)/anpr-hub --config config/hub.example.toml check-config
	$(BIN)/pytest
	$(MAKE) --no-print-directory install-check

## make install-check: build the wheel, install it into a fresh venv outside the checkout,
## and run --version, check-config (example config, dev PKI) and read from another directory
install-check: deps
	PYTHON=$(PYTHON) .ci/install-check.sh

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
