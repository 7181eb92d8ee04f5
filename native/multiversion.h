/*
 * MULTIVERSION: several versions of a hot loop (AVX-512, AVX2, the compiler's default), the best picked at load time
 * (ELF ifunc); elsewhere (other compilers, other platforms) the default alone.
 */
#ifndef MODELFAB_MULTIVERSION_H
#define MODELFAB_MULTIVERSION_H

#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

#endif
