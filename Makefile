# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
PY ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test bench

deps:
	@command -v dot >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq graphviz >/dev/null; } \
		|| echo "warning: could not install graphviz (dot); rendering to SVG/PNG will say how to install it"
	$(PY) -m pip install -q -e ".[test,examples]"

demo: deps
	$(PY) examples/fit_line.py

test: deps
	$(PY) -m ruff check graphc passes runtime tests bench examples scripts
	$(PY) -m pytest -q

bench: deps
	cd bench && $(PY) run_all.py
