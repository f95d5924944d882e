# Two entry points for a fresh machine: `make demo` and `make test`. Each installs only what it needs.
# Inside a virtual environment they use its Python; otherwise they make one in .venv (Debian's and
# Ubuntu's system Python refuses `pip install`, PEP 668). `make PY=/path/to/python ...` picks another.
SYSTEM_PY ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
IN_VENV := $(shell $(SYSTEM_PY) -c 'import sys; print(int(sys.prefix != sys.base_prefix))' 2>/dev/null)
ifeq ($(IN_VENV),1)
PY ?= $(SYSTEM_PY)
else
PY ?= .venv/bin/python
endif

.PHONY: graphviz demo test bench

.venv/bin/python:
	@echo "not inside a virtual environment: making one in .venv"
	$(SYSTEM_PY) -m venv .venv 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv >/dev/null \
		&& $(SYSTEM_PY) -m venv --clear .venv; }

# graphviz's `dot` draws the pictures (without it they are written as DOT text, and the error says how to get it).
graphviz:
	@command -v dot >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq graphviz >/dev/null; } \
		|| echo "warning: could not install graphviz (dot); rendering to SVG/PNG will say how to install it"

demo: $(if $(filter .venv/bin/python,$(PY)),.venv/bin/python) graphviz
	$(PY) -m pip install -q -e . matplotlib   # matplotlib: the tutorial's two plots
	$(PY) examples/fit_line.py

test: $(if $(filter .venv/bin/python,$(PY)),.venv/bin/python) graphviz
	$(PY) -m pip install -q -e ".[test,examples]"
	$(PY) -m ruff check graphc passes runtime tests bench examples scripts
	$(PY) -m pytest -q

bench: $(if $(filter .venv/bin/python,$(PY)),.venv/bin/python)
	$(PY) -m pip install -q -e .
	$(PY) bench/run_all.py
