// csrc/emu/cuda_runtime_api.h: stands in for the CUDA toolkit's header in the emulated
// build (csrc/emu is first on the include path), so the sources include it unchanged.
#pragma once
#include "emu.h"
