// emu.h: what the emulation offers beyond the CUDA runtime API, for its
// cuBLAS (emu_cublas.cc) and its own tests.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <string>

namespace encore_emu {

// Run fn on stream in order with the kernels (recorded instead while the
// stream is being captured). An error it returns becomes the stream's sticky
// error, as a failed kernel's would.
ENCORE_EMU_API cudaError_t enqueue_host(cudaStream_t stream, std::function<void()> fn);

// 1 when stream is a stream this process created (or the legacy stream).
ENCORE_EMU_API bool stream_valid(cudaStream_t stream);

// The message of the last kernel fault ("" when none since cudaDeviceReset).
ENCORE_EMU_API std::string last_fault();

// The order blocks run in, and the order threads are resumed in after a
// barrier: 0 forward, 1 reversed, 2 shuffled with seed; with ahead, the lanes
// a warp operation releases resume at once, before the block's other warps
// (a warp running ahead of them until its next wait). ENCORE_EMU_ORDER
// (forward, reverse or shuffle:SEED, each optionally followed by +ahead)
// sets it at start-up.
ENCORE_EMU_API void set_order(int order, unsigned seed, bool ahead = false);

}  // namespace encore_emu
