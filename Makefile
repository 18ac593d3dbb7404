# The two commands of the quick start: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# torch is pinned to the CPU build before anything else can ask for a (multi-GB CUDA) torch.
TORCH := torch==2.13.0

.PHONY: test demo clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install $(TORCH)
	$(PIP) install -e '.[dev]' $(TORCH)
	touch $@

$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[onnx,bench]'
	touch $@

test: $(VENV)/.dev-installed
	$(PY) -m pytest -q

demo: $(VENV)/.demo-installed
	$(VENV)/bin/edgeseg demo --out demo-out

clean:
	rm -rf $(VENV) demo-out .pytest_cache
