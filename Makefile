# One command each: `make demo` runs the local mesh, `make test` runs the tests.
# Both set up everything first (a venv with the pinned packages, Debian's prometheus and
# dnsmasq-base: the dnsmasq binary only, no system service; the local mesh's DNS server).
# `make bench-tools` adds what bench/sidecar_vs_bare_envoy.py needs, hey and nginx-light, and
# valgrind for bench/sidecar_profile.py.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STACK  ?= dev
OUT    ?= out

.PHONY: setup bench-tools check test test-unit demo gameday render golden clean

setup: $(STAMP)
	@{ command -v promtool && command -v amtool && test -x /usr/sbin/dnsmasq && command -v dot; } >/dev/null 2>&1 || { \
	  echo "installing prometheus, prometheus-alertmanager (for amtool), dnsmasq-base and graphviz (Debian packages)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-alertmanager dnsmasq-base graphviz >/dev/null; }

# nginx-light's package would start a system nginx on port 80: a policy-rc.d that refuses every
# service start keeps it off while it installs (the bench runs its own, on loopback only).
bench-tools: setup
	@{ command -v hey && test -x /usr/sbin/nginx && command -v callgrind_control; } >/dev/null 2>&1 || { \
	  printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
	  $(SUDO) chmod +x /usr/sbin/policy-rc.d && \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    hey nginx-light valgrind >/dev/null; status=$$?; $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$status; }

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# Lint, formatting and types (pyproject.toml says which rules and why; docs/development.md).
# Runs all three and fails at the end, so one run lists every violation.
check: setup
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

test: setup
	$(PYTHON) -m pytest -n 2 --dist loadfile

test-unit: setup
	$(PYTHON) -m pytest tests/unit -n 2

demo: setup
	$(PYTHON) -m meshvis run --stack $(STACK) --duration 60 \
	  --summary $(OUT)/summary.json --snapshot $(OUT)/golden-signals.png

# Faults injected into the local mesh, one scenario after another; exits 0 only when every
# scenario's alerts fired for its culprit and no other (docs/gameday.md). About 10 minutes.
gameday: setup
	$(PYTHON) -m meshvis gameday --stack $(STACK) --report $(OUT)/gameday-$(STACK).json

render: setup
	$(PYTHON) -m meshvis render --stack $(STACK) --out $(OUT)/render-$(STACK)

# The committed renders of every case in tests/golden/cases.yaml, which tests/unit/meshvis/
# test_golden.py compares with (review their diff), and the promtool SLO tests in tests/promtool/.
golden: setup
	$(PYTHON) -m tests.support.golden_cases
	$(PYTHON) -c 'from tests.consumers.dashboards.test_slo_promtool import write; write()'

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
