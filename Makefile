# The two commands of the README: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.catdeploy-installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist

.PHONY: setup dataset demo test bench clean-venv

setup: $(STAMP) dataset

# Reinstalls only when the pins or the project metadata change; a second run takes seconds.
$(STAMP): requirements.txt constraints.txt pyproject.toml runtime/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e runtime -e .
	@touch $(STAMP)

dataset:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian package dataset-fashion-mnist"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' (or pass --data-root)"; exit 2; \
	  fi; \
	fi

demo: setup
	$(VENV)/bin/catdeploy demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run_all.py --quick

clean-venv:
	rm -rf $(VENV)
