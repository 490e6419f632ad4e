# Common tasks. `make test` is the README's test command (and what CI runs).
PYTHON ?= python3

.PHONY: install test demo demo-vae bench gpu-test gpu-bench lint format clean

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

# On the GPU machine (see ../shared/docs/gpu.md): build the extension there, run every test
# (CUDA ones included), then compute-sanitizer memcheck + racecheck over the CUDA kernel tests.
gpu-test:
	$(PYTHON) -m pip install --no-build-isolation --no-deps -e . 2>&1 | tail -3
	$(PYTHON) -c "import minigan, json; print(json.dumps(minigan.backend_info(), indent=1))"
	$(PYTHON) -m pytest -q tests
	compute-sanitizer --tool memcheck --error-exitcode 1 $(PYTHON) -m pytest -q -x tests/test_cuda_kernels.py
	compute-sanitizer --tool racecheck --error-exitcode 1 $(PYTHON) -m pytest -q -x tests/test_cuda_kernels.py

gpu-bench:
	$(PYTHON) -m pip install --no-build-isolation --no-deps -e . 2>&1 | tail -3
	$(PYTHON) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results-gpu.json -q
	$(PYTHON) benchmarks/report.py benchmarks/results-gpu.json

lint:
	ruff check minigan tests examples benchmarks
	ruff format --check minigan tests examples benchmarks

format:
	ruff format minigan tests examples benchmarks
	ruff check --fix minigan tests examples benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache .benchmarks .hypothesis runs
