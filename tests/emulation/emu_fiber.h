// emu_fiber.h: the fibers that run the threads of an emulated CUDA block. A
// small hand-written context switch (callee-saved registers and the stack
// pointer) on x86-64; ucontext elsewhere. Stacks are mmap'ed with a guard page
// and annotated for AddressSanitizer.
#pragma once

#include <stddef.h>

// ENCORE_EMU_ASAN: built with AddressSanitizer (gcc or clang), whose view of
// the fiber stacks must be kept right.
#if defined(__SANITIZE_ADDRESS__)
#define ENCORE_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENCORE_EMU_ASAN 1
#endif
#endif

namespace encore_emu {

struct FiberContext {
    void *sp = nullptr;          // saved stack pointer (x86-64)
    void *uctx = nullptr;        // ucontext_t elsewhere
    unsigned char *stack = nullptr;
    size_t stack_size = 0;
    bool dirty = false;          // abandoned mid-run: its stack shadow needs clearing before reuse
};

// Make ctx start entry(arg) on its own stack (allocated on first use).
void fiber_init(FiberContext *ctx, void (*entry)(void *), void *arg);
// Save the running context in from and continue to.
void fiber_switch(FiberContext *from, FiberContext *to);
// First thing a new fiber does: learn the stack of the context that started
// it (the scheduler's), which AddressSanitizer needs to switch back.
void fiber_started(FiberContext *from);
// Release a fiber's stack.
void fiber_free(FiberContext *ctx);

}  // namespace encore_emu
