# Two commands do all the set-up (see README): `make run` and `make test`.
# Both create ./.venv on first use: torch first (so nothing pulls a CUDA build), then the
# project with its extras.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# PyTorch goes in first, so nothing later pulls another build. Where pip has a local CPU wheel
# (the build machines) plain torch==2.13.0 takes it; elsewhere PyPI's default is the CUDA build:
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu      (CPU only, ~200 MB)
#   make TORCH_INDEX=https://download.pytorch.org/whl/cu128    (a GPU host)
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
STAMP  := $(VENV)/.installed

.PHONY: run test install lint typecheck check bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH) $(TORCH_FROM)
	$(BIN)/pip install --quiet -e '.[detoxify,dev]'
	touch $(STAMP)

install: $(STAMP)

## The whole service on this machine: API + worker + embedded Redis (data in ./var).
run: $(STAMP)
	$(BIN)/moderation run

## The whole test suite (starts its own redis-server instances; browser tests need Chromium).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check moderation workers tests bench
	$(BIN)/ruff format --check moderation workers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## Regenerate the README's configuration table from moderation/settings.py.
docs: $(STAMP)
	$(BIN)/python -m moderation.settings_doc README.md

bench: $(STAMP)
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
