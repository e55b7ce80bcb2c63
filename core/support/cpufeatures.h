// SPDX-License-Identifier: MIT
#pragma once

namespace primaps {

/// What the running CPU offers the hand-vectorised kernels (each kernel is also
/// compiled only where its compiler flags allow it). Asked once, then cached.
/// AVX2 with FMA: the CRF's label rows, the ViT's softmax, PriMaPs' unit columns
/// and Gram products.
bool cpuHasAvx2Fma();
/// F16C (with the OS saving the YMM registers): the feature cache's half floats.
bool cpuHasF16c();

} // namespace primaps
