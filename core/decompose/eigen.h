// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <vector>

namespace primaps {

/// The largest eigenpair of a symmetric positive semi-definite matrix.
struct SymmetricEigen
{
    double value = 0;
    std::vector<double> vector; ///< unit length; its sign is arbitrary (callers orient it)
    int multiplications = 0;    ///< matrix-vector products spent
};

/// Largest eigenpair of the symmetric positive semi-definite n x n `matrix`, of
/// which only the upper triangle in column-major order (the lower triangle in
/// row-major order) is read, by Lanczos iteration with full reorthogonalisation (system BLAS
/// and LAPACK), restarted from the Ritz vector until the residual
/// ||A u - theta u|| is at most `tolerance * theta`. Far cheaper than a full
/// eigendecomposition when only the top pair is needed (PriMaPs step 2a).
/// Deterministic: the start vector is fixed. For the zero matrix it returns
/// value 0 and the start vector. Throws primaps::Error when n < 1. Thread-safe.
SymmetricEigen topEigenvector(const double* matrix, int n, double tolerance = 1e-8);

/// The same for a matrix given as an operator: `multiply(in, out)` sets
/// out = A * in (both of length n). Lets callers apply A = X^T X without forming
/// it. With an operator computed in float, use a tolerance of about 1e-5.
SymmetricEigen topEigenvector(const std::function<void(const double*, double*)>& multiply, int n,
                              double tolerance);

} // namespace primaps
