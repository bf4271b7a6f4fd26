/* Telling AddressSanitizer and Valgrind about stack switches. Each helper
 * compiles to nothing when the tool is not in use. */
#ifndef PETAL_CORO_TOOLS_H
#define PETAL_CORO_TOOLS_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PETAL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PETAL_ASAN 1
#endif
#endif

#if !defined(PETAL_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#define PETAL_VALGRIND 1
#endif
#endif

#ifdef PETAL_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* Before leaving a stack: save points at the leaving fiber's fake-stack slot
 * (NULL when it will never run again); [bottom, bottom+size) is the target. */
#define petal_asan_start(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define petal_asan_finish(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#define petal_asan_unpoison(p, n) __asan_unpoison_memory_region(p, n)
#else
#define petal_asan_start(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define petal_asan_finish(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define petal_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#ifdef PETAL_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define petal_vg_stack_register(lo, size) \
    ((unsigned)VALGRIND_STACK_REGISTER((char *)(lo), (char *)(lo) + (size)))
#define petal_vg_stack_deregister(id) VALGRIND_STACK_DEREGISTER(id)
/* Memory about to be rewritten from another stack: addressable again. */
#define petal_vg_undefined(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#else
#define petal_vg_stack_register(lo, size) ((void)(lo), (void)(size), 0u)
#define petal_vg_stack_deregister(id) ((void)(id))
#define petal_vg_undefined(p, n) ((void)(p), (void)(n))
#endif

#endif
