// emu_fiber.cc: context switches for the emulated CUDA threads (emu_fiber.h).
#include "emu_fiber.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef ENCORE_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace encore_emu {

namespace {

#ifdef ENCORE_EMU_ASAN
constexpr size_t kStack = 512 * 1024;  // unoptimised, instrumented frames are large
#else
constexpr size_t kStack = 128 * 1024;
#endif
constexpr size_t kGuard = 4096;

void alloc_stack(FiberContext *ctx) {
    if (ctx->stack) return;
    void *p = mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "encore CUDA emulation: cannot map a fiber stack\n");
        abort();
    }
    mprotect(p, kGuard, PROT_NONE);  // a stack overflow faults instead of corrupting
    ctx->stack = static_cast<unsigned char *>(p) + kGuard;
    ctx->stack_size = kStack;
}

// The stack a fiber is about to start on, allocated on first use. A
// finished fiber's last frames never return, so their redzones stay
// poisoned where the next fiber's frames will lie: clear them (all of the
// stack after an abandoned run).
static void prepare_stack(FiberContext *ctx) {
    alloc_stack(ctx);
#ifdef ENCORE_EMU_ASAN
    const size_t clear = ctx->dirty ? ctx->stack_size : 16384;
    __asan_unpoison_memory_region(ctx->stack + ctx->stack_size - clear, clear);
#endif
    ctx->dirty = false;
}

struct Start {
    void (*entry)(void *);
    void *arg;
};

}  // namespace

#if defined(__x86_64__)
extern "C" void encore_emu_switch(void **save_sp, void *to_sp);
extern "C" void encore_emu_fiber_start();
// encore_emu_switch: push the callee-saved registers, MXCSR and the x87
// control word, save rsp, load the other rsp, pop the same. A new fiber's
// first "return" lands in encore_emu_fiber_start with r12 = argument and
// r13 = function.
asm(R"(
    .text
    .globl encore_emu_switch
    .hidden encore_emu_switch
    .type encore_emu_switch,@function
encore_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size encore_emu_switch,.-encore_emu_switch

    .globl encore_emu_fiber_start
    .hidden encore_emu_fiber_start
    .type encore_emu_fiber_start,@function
encore_emu_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size encore_emu_fiber_start,.-encore_emu_fiber_start
)");

void fiber_init(FiberContext *ctx, void (*entry)(void *), void *arg) {
    prepare_stack(ctx);
    uintptr_t top = (uintptr_t)(ctx->stack + ctx->stack_size) & ~(uintptr_t)15;
    uint64_t *ret = reinterpret_cast<uint64_t *>(top - 24);  // rsp after `ret` is 16-byte aligned
    uint64_t *sp = ret - 7;
    const uint32_t csr[2] = {0x1f80u, 0x037fu};  // MXCSR and x87 control word at power-on
    memcpy(sp, csr, 8);
    sp[1] = 0;                         // r15
    sp[2] = 0;                         // r14
    sp[3] = (uint64_t)(uintptr_t)entry;  // r13
    sp[4] = (uint64_t)(uintptr_t)arg;    // r12
    sp[5] = 0;                         // rbx
    sp[6] = 0;                         // rbp
    *ret = (uint64_t)(uintptr_t)&encore_emu_fiber_start;
    ctx->sp = sp;
}

static void raw_switch(FiberContext *from, FiberContext *to) { encore_emu_switch(&from->sp, to->sp); }

#else  // ucontext

namespace {
void uctx_entry(unsigned hi, unsigned lo) {
    Start *s = reinterpret_cast<Start *>(((uintptr_t)hi << 32) | lo);
    s->entry(s->arg);
    abort();
}
}  // namespace

void fiber_init(FiberContext *ctx, void (*entry)(void *), void *arg) {
    prepare_stack(ctx);
    if (!ctx->uctx) ctx->uctx = calloc(1, sizeof(ucontext_t) + sizeof(Start));
    ucontext_t *u = static_cast<ucontext_t *>(ctx->uctx);
    Start *s = reinterpret_cast<Start *>(u + 1);
    s->entry = entry;
    s->arg = arg;
    getcontext(u);
    u->uc_stack.ss_sp = ctx->stack;
    u->uc_stack.ss_size = ctx->stack_size;
    u->uc_link = nullptr;
    const uintptr_t p = (uintptr_t)s;
    makecontext(u, (void (*)())uctx_entry, 2, (unsigned)(p >> 32), (unsigned)p);
}

static void raw_switch(FiberContext *from, FiberContext *to) {
    if (!from->uctx) from->uctx = calloc(1, sizeof(ucontext_t) + sizeof(Start));
    swapcontext(static_cast<ucontext_t *>(from->uctx), static_cast<ucontext_t *>(to->uctx));
}
#endif

void fiber_switch(FiberContext *from, FiberContext *to) {
#ifdef ENCORE_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, to->stack, to->stack_size);
    raw_switch(from, to);
    const void *old_bottom = nullptr;
    size_t old_size = 0;
    __sanitizer_finish_switch_fiber(fake, &old_bottom, &old_size);
#else
    raw_switch(from, to);
#endif
}

void fiber_started(FiberContext *from) {
#ifdef ENCORE_EMU_ASAN
    const void *bottom = nullptr;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
    from->stack = static_cast<unsigned char *>(const_cast<void *>(bottom));
    from->stack_size = size;
#else
    (void)from;
#endif
}

void fiber_free(FiberContext *ctx) {
    if (ctx->stack) munmap(ctx->stack - kGuard, ctx->stack_size + kGuard);
    free(ctx->uctx);
    ctx->stack = nullptr;
    ctx->uctx = nullptr;
}

}  // namespace encore_emu
