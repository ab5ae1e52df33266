# hbmesh: `make run` runs the mesh on this machine, `make test` runs the test suite.
# Both create .venv with Python 3.12 and install the pinned lock (requirements.lock) first.
SHELL := /bin/bash
VENV := .venv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.hbmesh-installed
# A second, tiny venv with commlib-py 0.11.5 (paho 1.x, what bots and hbotrc use): a real commlib peer for tests.
COMMLIB_VENV := .venv-commlib
COMMLIB_STAMP := $(COMMLIB_VENV)/.installed
PYTEST_ARGS ?=

# A working Python 3.12: python3.12 on PATH first (pyenv shims may exist but fail), then pyenv's install.
PY312 := $(shell for c in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	  $$c -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { command -v $$c || echo $$c; } && break; done | head -n1)

.PHONY: run test bench install asyncapi clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@if [ -z "$(PY312)" ]; then \
	  echo "hbmesh needs Python 3.12 (hummingbot requires >= 3.12, < 3.13)."; \
	  echo "Install it: apt-get install python3.12 python3.12-venv, or 'pyenv install 3.12', then re-run."; exit 1; fi
	@test -x $(VENV)/bin/python || $(PY312) -m venv $(VENV)
	@$(VENV)/bin/python -m pip --version >/dev/null 2>&1 || $(VENV)/bin/python -m ensurepip >/dev/null
	@$(VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q -p $(VENV)/bin/python -r requirements.lock
	$(VENV)/bin/uv pip install -q -p $(VENV)/bin/python --no-deps -e .
	@touch $(STAMP)

$(COMMLIB_STAMP): tests/commlib-peer.lock $(STAMP)
	@test -x $(COMMLIB_VENV)/bin/python || $(PY312) -m venv $(COMMLIB_VENV)
	$(VENV)/bin/uv pip install -q -p $(COMMLIB_VENV)/bin/python -r tests/commlib-peer.lock
	@touch $(COMMLIB_STAMP)

run: install
	$(VENV)/bin/hbmesh up

test: install $(COMMLIB_STAMP)
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { echo "tests need the mosquitto broker binary: apt-get install mosquitto mosquitto-clients"; exit 1; }
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/python -m bench

asyncapi: install
	$(VENV)/bin/hbmesh asyncapi > asyncapi.json

clean:
	rm -rf $(VENV) $(COMMLIB_VENV)
