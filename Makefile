# Common tasks. `make test` is the README's test command (and what CI runs).
PYTHON ?= python3

.PHONY: install test demo demo-vae bench lint format clean

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest -q tests

demo:
	$(PYTHON) examples/mnist_gan.py --device auto --epochs 5 --out runs/gan

demo-vae:
	$(PYTHON) examples/mnist_vae.py --device auto --epochs 10 --out runs/vae

bench:
	$(PYTHON) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results-cpu.json -q
	$(PYTHON) benchmarks/report.py benchmarks/results-cpu.json

lint:
	ruff check minigan tests examples benchmarks
	ruff format --check minigan tests examples benchmarks

format:
	ruff format minigan tests examples benchmarks
	ruff check --fix minigan tests examples benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache .benchmarks .hypothesis runs
