// csrc/emu/cuda_runtime.h: stands in for the CUDA toolkit's header in the emulated build.
#pragma once
#include "emu.h"
