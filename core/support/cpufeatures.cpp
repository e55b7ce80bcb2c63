// SPDX-License-Identifier: MIT
#include "support/cpufeatures.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace primaps {

bool cpuHasAvx2Fma()
{
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return available;
#else
    return false;
#endif
}

bool cpuHasF16c()
{
#if defined(__x86_64__) && defined(__GNUC__)
    // GCC's __builtin_cpu_supports knows "f16c", Clang 14's does not: CPUID leaf 1 says
    // whether the CPU has it, and "avx" whether the OS saves the YMM registers.
    static const bool available = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
               (c & bit_F16C) != 0;
    }();
    return available;
#else
    return false;
#endif
}

} // namespace primaps
