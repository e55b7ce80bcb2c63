// SPDX-License-Identifier: MIT
// The few BLAS/LAPACK routines core calls directly (Fortran interface, column-
// major). LibTorch offers no symmetric rank-k update, and its per-call overhead
// dominates on the small matrices of one PriMaPs iteration; the system BLAS
// (OpenBLAS through Debian's alternatives, see packaging/install-deps.sh) is the
// one LibTorch itself uses. Private to core.
#pragma once

extern "C" {
// C := alpha * A * A^T + beta * C (trans = 'N'), one triangle of C.
void ssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* beta, float* c, const int* ldc);
// y := alpha * A * x + beta * y for symmetric A stored in one triangle.
void dsymv_(const char* uplo, const int* n, const double* alpha, const double* a, const int* lda,
            const double* x, const int* incx, const double* beta, double* y, const int* incy);
// All eigenpairs of a symmetric tridiagonal matrix (ascending).
void dstev_(const char* jobz, const int* n, double* d, double* e, double* z, const int* ldz,
            double* work, int* info);
}
