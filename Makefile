# One command each: `make demo` runs the local mesh, `make test` runs the tests.
# Both set up everything first (a venv with the pinned packages, Debian's prometheus).
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STACK  ?= dev
OUT    ?= out

.PHONY: setup test test-unit demo render golden clean

setup: $(STAMP)
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing prometheus (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

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
