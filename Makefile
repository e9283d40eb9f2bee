# The book's two commands: `make book` and `make test`. Both set up the environment first.
#   make book [PROFILE=offline|smoke|paper]   train the shared models, execute the chapters
#                                             whose inputs changed (papermill), render HTML
#   make test                                 unit tests, smoke-run every chapter, render HTML,
#                                             check every page in Chromium, then every chapter's
#                                             paper code path with random weights (paper-smoke)
#   make paper-smoke                          that last step alone
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= offline
BUILD ?= _build
# The offline data bundle beside the project (override with SALIENCY_DATA=/path/to/data).
SALIENCY_DATA ?= $(abspath ../shared/data)
export SALIENCY_DATA
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# pip's machine-wide config may add a find-links folder with a CPU-only torch wheel that pairs
# with no torchvision; the pinned pair in requirements-lock.txt comes from the package index.
PIP := $(VENV)/bin/python -m pip
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup book test unit lint models chapters render benchmark clean help browser check-site \
	paper-smoke
help:
	@sed -n '1,6p' Makefile

$(STAMP): requirements-lock.txt requirements-nodeps.txt pyproject.toml
	@echo "== setting up $(VENV) (python: $$($(PYTHON) --version))"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -qq -r requirements-lock.txt
	$(PIP) install -qq --no-deps -r requirements-nodeps.txt
	$(PIP) install -qq --no-deps --no-build-isolation -e .
	$(PY) -c "import torch, torchvision, captum, papermill, saliency_utils; print('environment ok: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@touch $(STAMP)

setup: $(STAMP)

unit: setup
	$(PY) -m pytest -q tests

# Lint the package, tests, benchmarks, scripts and notebooks (config: pyproject.toml [tool.ruff]).
lint: setup
	$(VENV)/bin/ruff check .

# Every model the chapters share, trained once (cached in data/cache/models), epochs printed.
models: setup
	$(PY) -m saliency_utils models --profile $(PROFILE)

# Chapters whose notebook, imported package modules, settings, data and models did not change
# are copied from the execution cache ($(BUILD)/executed/$(PROFILE)/.cache); FORCE=1 reruns all,
# LOG=1 also shows what the chapters print while they run.
chapters: setup
	$(PY) -m saliency_utils execute --profile $(PROFILE) --out $(BUILD)/executed/$(PROFILE) \
	  $(if $(FORCE),--force) $(if $(LOG),--log-output)

render: setup
	$(PY) -m saliency_utils render --executed $(BUILD)/executed/$(PROFILE) --out $(BUILD)

book: setup
	$(MAKE) --no-print-directory models chapters render PROFILE=$(PROFILE)

test: setup browser
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory models chapters render PROFILE=smoke
	$(MAKE) --no-print-directory check-site
	$(MAKE) --no-print-directory paper-smoke

# Every chapter's paper code path (VGG-16 / AlexNet, the paper's layers, smoke sizes) with random
# weights, offline: executed into $(BUILD)/executed/paper-smoke, not rendered (the site stays the
# smoke one); its models are cached under their own names (saliency-vgg16-random-*.pt).
paper-smoke: setup
	$(MAKE) --no-print-directory models chapters PROFILE=paper-smoke

# The rendered-site check drives Debian's Chromium through Selenium; installed on first use.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "== installing Debian's chromium and chromium-driver"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# Load every page of the built site in headless Chromium: figures present, no error output,
# the main heading inside the viewport; full-page screenshots in $(BUILD)/screenshots.
check-site: setup browser
	$(PY) -m saliency_utils.book.sitecheck --html $(BUILD)/html --toc _toc.yml --config _config.yml --screenshots $(BUILD)/screenshots

benchmark: setup
	$(PY) benchmarks/run_benchmarks.py

clean:
	rm -rf $(BUILD)
