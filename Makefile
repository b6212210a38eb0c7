# labkit — the two commands of the README:
#   make course   set up, then run all six labs headless (full settings) -> artifacts/
#   make test     set up, then pytest + nbval on every lab (fast mode)   -> artifacts/fast/
# Set-up is idempotent: .venv is created if missing and the pinned stack is installed once
# (again only when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.labkit-installed
BOARD  ?= pynq-z1
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup course test overlay ip package bench clean help

help:
	@echo "make course | make test | make overlay BOARD=pynq-z1|kv260 | make package BOARD=... | make clean"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v g++ >/dev/null && command -v tclsh >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing g++ and tclsh (Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ tcl >/dev/null; \
	  else echo "note: g++ and tclsh are needed for the HLS C simulation and the TCL tests; install them (e.g. apt-get install g++ tcl)"; fi; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23" wheel
	$(PY) -m pip install -q -e ".[lab,board,dev]"
	@touch $@

course: $(STAMP)
	$(PY) -m labkit course

test: $(STAMP)
	LABKIT_FAST=1 $(PY) -m pytest -p no:cacheprovider tests labs --nbval-lax --nbval-current-env

bench: $(STAMP)
	$(PY) -m labkit bench accuracy
	$(PY) -m labkit bench agreement
	$(PY) -m labkit bench board

ip: $(STAMP)
	$(PY) -m labkit hls export

overlay: $(STAMP)
	$(PY) -m labkit overlay --board $(BOARD)

package: $(STAMP)
	$(PY) -m labkit package --board $(BOARD)

clean:
	rm -rf artifacts build dist *.egg-info .pytest_cache
