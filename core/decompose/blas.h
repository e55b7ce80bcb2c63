// SPDX-License-Identifier: MIT
// The few BLAS/LAPACK routines core calls directly (Fortran interface, column-
// major). LibTorch's per-call overhead dominates on the small matrices of the
// Lanczos iteration; the system BLAS
// (OpenBLAS through Debian's alternatives, see packaging/install-deps.sh) is the
// one LibTorch itself uses. Private to core.
#pragma once

extern "C" {
// y := alpha * A * x + beta * y for symmetric A stored in one triangle.
void dsymv_(const char* uplo, const int* n, const double* alpha, const double* a, const int* lda,
            const double* x, const int* incx, const double* beta, double* y, const int* incy);
// All eigenpairs of a symmetric tridiagonal matrix (ascending).
void dstev_(const char* jobz, const int* n, double* d, double* e, double* z, const int* ldz,
            double* work, int* info);
}
