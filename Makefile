# Common tasks. `make test` is the README's test command (and what CI runs).
PYTHON ?= python3

.PHONY: install test demo demo-vae bench bench-cpu profile-cpu gpu-test gpu-bench gpu-check \
	emu-build emu-test \
	emu-test-full kernel-resources lint format clean

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest -q tests

demo:
	$(PYTHON) examples/mnist_gan.py --device auto --out runs/gan

demo-vae:
	$(PYTHON) examples/mnist_vae.py --device auto --epochs 10 --out runs/vae

bench:
	$(PYTHON) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results-cpu.json -q
	$(PYTHON) benchmarks/report.py benchmarks/results-cpu.json

# The CPU benchmarks side by side (benchmarks/README.md): every kernel family on numpy_ref
# and numba vs PyTorch CPU, a full training step of every model vs the same model in
# PyTorch, and this machine's SGEMM rate, once per thread count of BENCH_THREADS (default:
# 1 and all cores), minigan and PyTorch with the same count. The JSON files and the printed
# table (report.md) go to BENCH_CPU_DIR, under build/ (untracked). MINIGAN_BENCH_ROUNDS=N
# caps every benchmark's rounds for a quick look (not for published numbers).
BENCH_CPU_DIR ?= build/bench-cpu
BENCH_THREADS ?= 1 $(shell $(PYTHON) -c "from minigan.backend.cpu_threads import available_cores; print(available_cores())")

bench-cpu:
	@mkdir -p $(BENCH_CPU_DIR)
	@set -e; files=""; \
	for t in $$(printf '%s\n' $(BENCH_THREADS) | sort -un); do \
		echo "bench-cpu: minigan and PyTorch with $$t thread(s)"; \
		OPENBLAS_THREAD_TIMEOUT=4 MINIGAN_NUM_THREADS=$$t $(PYTHON) -m pytest -q \
			benchmarks/bench_kernels_cpu.py \
			benchmarks/bench_cpu_steps.py --benchmark-only --benchmark-quiet \
			--benchmark-json=$(BENCH_CPU_DIR)/threads-$$t.json; \
		files="$$files $(BENCH_CPU_DIR)/threads-$$t.json"; \
	done; \
	$(PYTHON) benchmarks/report.py $$files > $(BENCH_CPU_DIR)/report.md; \
	cat $(BENCH_CPU_DIR)/report.md; \
	echo "bench-cpu: JSON and report.md in $(BENCH_CPU_DIR)/"

# Per-op profile (minigan.trace) of one training step of every model on the CPU, published
# in docs/profile-cpu.md; PROFILE_THREADS sets the threads (default 1: the quietest figure).
PROFILE_THREADS ?= 1
profile-cpu:
	$(PYTHON) tools/profile_step.py --model all --threads $(PROFILE_THREADS) \
		--markdown docs/profile-cpu.md

# The CUDA kernels on the CPU (no GPU needed): minigan._C_emu is csrc/ compiled as host C++
# and run by the emulator of the CUDA execution model (csrc/emu/, docs/cuda-emulation.md).
# emu-build also records ptxas' figures of every kernel (when nvcc is present) for the
# emulator's launch checks. emu-test runs every test marked `emu` (the CUDA kernel suite,
# whole-step parity, the mutants that prove the checks bite); emu-test-full adds the big
# shapes (marker emu_full).
emu-build:
	$(PYTHON) csrc/emu/build.py
	@if command -v nvcc >/dev/null 2>&1; then \
		$(PYTHON) tools/kernel_resources.py --json build/emu/kernel_resources.json >/dev/null; \
	else echo "emu-build: nvcc not found: launch checks run without ptxas' figures"; fi

emu-test: emu-build
	$(PYTHON) -m pytest -q -m emu tests

emu-test-full: emu-build
	MINIGAN_EMU_FULL=1 $(PYTHON) -m pytest -q -m "emu or emu_full" tests

# ptxas registers / spills / shared memory and sm_90 occupancy of every kernel (needs nvcc, no
# GPU); refreshes benchmarks/README.md and fails when a kernel spills beyond
# csrc/resource_budget.json.
kernel-resources:
	$(PYTHON) tools/kernel_resources.py --json build/kernel_resources.json \
		--check-budget csrc/resource_budget.json --update-readme benchmarks/README.md

# The one command for a GPU day: build, whole suite, compute-sanitizer, benchmarks, a short
# training run of each GAN; everything in build/gpu-check/results.md. Without a GPU it runs
# in emulated mode (GPU-only steps skipped with a message).
gpu-check:
	$(PYTHON) tools/gpu_check.py

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
	ruff check minigan tests examples benchmarks tools csrc/emu setup.py
	ruff format --check minigan tests examples benchmarks tools csrc/emu setup.py
	clang-format --dry-run --Werror csrc/*.cu csrc/*.cuh csrc/*.cpp csrc/*.h csrc/emu/*.cpp csrc/emu/*.h

format:
	ruff format minigan tests examples benchmarks tools csrc/emu setup.py
	ruff check --fix minigan tests examples benchmarks tools csrc/emu setup.py
	clang-format -i csrc/*.cu csrc/*.cuh csrc/*.cpp csrc/*.h csrc/emu/*.cpp csrc/emu/*.h

clean:
	rm -rf build dist *.egg-info .pytest_cache .benchmarks .hypothesis runs minigan/_C_emu*.so
