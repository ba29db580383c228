# One command each: `make demo` runs the local mesh, `make test` runs the tests.
# Both set up everything first (a venv with the pinned packages, Debian's prometheus and
# dnsmasq-base: the dnsmasq binary only, no system service; the local mesh's DNS server).
# `make bench-tools` adds what bench/sidecar_vs_bare_envoy.py needs: hey and nginx-light.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STACK  ?= dev
OUT    ?= out

.PHONY: setup bench-tools test test-unit demo render golden clean

setup: $(STAMP)
	@{ command -v promtool && test -x /usr/sbin/dnsmasq; } >/dev/null 2>&1 || { \
	  echo "installing prometheus and dnsmasq-base (Debian packages)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    prometheus dnsmasq-base >/dev/null; }

# nginx-light's package would start a system nginx on port 80: a policy-rc.d that refuses every
# service start keeps it off while it installs (the bench runs its own, on loopback only).
bench-tools: setup
	@{ command -v hey && test -x /usr/sbin/nginx; } >/dev/null 2>&1 || { \
	  printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
	  $(SUDO) chmod +x /usr/sbin/policy-rc.d && \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    hey nginx-light >/dev/null; status=$$?; $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$status; }

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

test: setup
	$(PYTHON) -m pytest -n 2 --dist loadfile

test-unit: setup
	$(PYTHON) -m pytest tests/unit -n 2

demo: setup
	$(PYTHON) -m meshvis run --stack $(STACK) --duration 60 \
	  --summary $(OUT)/summary.json --snapshot $(OUT)/golden-signals.png

render: setup
	$(PYTHON) -m meshvis render --stack $(STACK) --out $(OUT)/render-$(STACK)

# The committed renders tests/unit/meshvis/test_golden.py compares with (review their diff).
golden: setup
	for stack in dev dev-eks; do rm -rf tests/golden/$$stack && \
	  $(PYTHON) -m meshvis render --stack $$stack --out tests/golden/$$stack >/dev/null || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
