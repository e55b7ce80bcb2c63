// SPDX-License-Identifier: MIT
#include "decompose/eigen.h"

#include "decompose/blas.h"
#include "support/cpufeatures.h"
#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace primaps {

namespace {

// Sixteen partial sums: the compiler keeps them in four vector registers, i.e.
// four independent chains of additions, without reassociating anything itself.
inline __attribute__((always_inline)) double dotBody(const double* a, const double* b, int n)
{
    constexpr int P = 16;
    double partial[P] = {};
    int i = 0;
    for (; i + P <= n; i += P)
        for (int j = 0; j < P; ++j)
            partial[j] += a[i + j] * b[i + j];
    double s = 0;
    for (int j = 0; j < P; ++j)
        s += partial[j];
    for (; i < n; ++i)
        s += a[i] * b[i];
    return s;
}

double dot(const double* a, const double* b, int n)
{
    return dotBody(a, b, n);
}

// Full reorthogonalisation of w against basis rows 0..j, twice ("twice is enough"):
// keeps the basis orthogonal so no ghost copies of the top eigenvalue appear.
inline __attribute__((always_inline)) void reorthogonaliseBody(const double* basis, int j, int n,
                                                               double* w)
{
    for (int pass = 0; pass < 2; ++pass)
        for (int k = 0; k <= j; ++k) {
            const double* b = basis + std::size_t(k) * n;
            const double c = dotBody(b, w, n);
            for (int i = 0; i < n; ++i)
                w[i] -= c * b[i];
        }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The same loops in 256-bit registers (the build's baseline has 128-bit ones): every
// lane does the baseline's operations in its order, and without FMA in the target
// no multiply and add can be fused, so the bits are the same; about twice as fast.
__attribute__((target("avx2"))) void reorthogonaliseAvx2(const double* basis, int j, int n,
                                                         double* w)
{
    reorthogonaliseBody(basis, j, n, w);
}
#endif

void reorthogonalise(const double* basis, int j, int n, double* w)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static const bool avx2 = cpuHasAvx2Fma();
    if (avx2) {
        reorthogonaliseAvx2(basis, j, n, w);
        return;
    }
#endif
    reorthogonaliseBody(basis, j, n, w);
}

// Largest eigenpair of the m x m symmetric tridiagonal matrix (alpha, beta).
double largestTridiagonal(const std::vector<double>& alpha, const std::vector<double>& beta, int m,
                          std::vector<double>& y)
{
    std::vector<double> d(alpha.begin(), alpha.begin() + m);
    std::vector<double> e(static_cast<std::size_t>(std::max(1, m)), 0.0);
    std::copy(beta.begin(), beta.begin() + (m - 1), e.begin());
    std::vector<double> z(static_cast<std::size_t>(m) * m);
    std::vector<double> work(static_cast<std::size_t>(std::max(1, 2 * m - 2)));
    int info = 0;
    dstev_("V", &m, d.data(), e.data(), z.data(), &m, work.data(), &info);
    if (info != 0)
        throw Error("topEigenvector: the tridiagonal eigensolver did not converge");
    // Ascending order; eigenvectors are the columns of z (column-major).
    y.assign(z.begin() + std::ptrdiff_t(m - 1) * m, z.begin() + std::ptrdiff_t(m) * m);
    return d[std::size_t(m - 1)];
}

// The largest eigenvalue theta of the m x m tridiagonal (alpha, beta) and the last
// component |y_m| of its unit eigenvector, in O(m) per Newton step instead of a full
// eigendecomposition: with q_1 = t - alpha_1, q_k = t - alpha_k - beta_(k-1)^2 / q_(k-1)
// (the ratios of consecutive characteristic polynomials), theta is the root of q_m
// above `below`, the largest eigenvalue of the leading (m-1) x (m-1) block, where
// every q_k (k < m) is positive and q_m increases; and y_m^2 = 1 / q_m'(theta).
// Safeguarded Newton from Gershgorin's upper bound. Returns false when it cannot vouch
// for the result (a vanishing beta, no progress); the caller then asks LAPACK.
bool estimateLargestRitz(const std::vector<double>& alpha, const std::vector<double>& beta,
                         int m, double below, double& theta, double& lastComponent)
{
    if (m == 1) {
        theta = alpha[0];
        lastComponent = 1.0;
        return true;
    }
    double upper = -HUGE_VAL;
    for (int k = 0; k < m; ++k) {
        const double left = k > 0 ? std::abs(beta[std::size_t(k - 1)]) : 0.0;
        const double right = k + 1 < m ? std::abs(beta[std::size_t(k)]) : 0.0;
        upper = std::max(upper, alpha[std::size_t(k)] + left + right);
    }
    const double coupling = beta[std::size_t(m - 2)];
    if (!(upper > below) || !(std::abs(coupling) > 1e-150 * std::max(std::abs(upper), 1.0)))
        return false;
    double lo = below, hi = upper, t = upper;
    for (int iteration = 0; iteration < 200; ++iteration) {
        double q = t - alpha[0], dq = 1.0;
        bool inside = q > 0; // t above every eigenvalue of the leading blocks
        for (int k = 1; k < m && inside; ++k) {
            const double b2 = beta[std::size_t(k - 1)] * beta[std::size_t(k - 1)];
            const double ratio = b2 / q;
            dq = 1.0 + ratio * dq / q;
            q = t - alpha[std::size_t(k)] - ratio;
            inside = k + 1 == m || q > 0;
        }
        if (!inside || !std::isfinite(q) || !std::isfinite(dq)) {
            lo = t; // below the leading block's top eigenvalue (rounding): move up
        } else if (q > 0) {
            hi = t;
        } else {
            lo = t;
        }
        if (inside && std::isfinite(q) && std::isfinite(dq) &&
            std::abs(q) <= 1e-15 * dq * std::max(std::abs(t), 1e-300)) {
            theta = t;
            lastComponent = 1.0 / std::sqrt(dq);
            return std::isfinite(lastComponent);
        }
        double next = inside && std::isfinite(q) && dq > 0 ? t - q / dq : lo - 1.0;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        if (next == t || !(hi > lo))
            return false;
        t = next;
    }
    return false;
}

} // namespace

SymmetricEigen topEigenvector(const double* matrix, int n, double tolerance)
{
    const double one = 1.0, zero = 0.0;
    const int inc = 1;
    return topEigenvector(
        [&](const double* in, double* out) {
            dsymv_("U", &n, &one, matrix, &n, in, &inc, &zero, out, &inc);
        },
        n, tolerance);
}

SymmetricEigen topEigenvector(const std::function<void(const double*, double*)>& multiply, int n,
                              double tolerance)
{
    if (n < 1)
        throw Error("topEigenvector: dimension must be positive");
    const int maxSteps = std::min(n, 64);
    // Fixed pseudo-random start, so that no structured input is orthogonal to it
    // by construction and every run is reproducible.
    std::vector<double> start(static_cast<std::size_t>(n));
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    for (double& v : start) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        v = double(state >> 11) / double(1ull << 53) - 0.5;
    }

    SymmetricEigen result;
    std::vector<double> basis(static_cast<std::size_t>(maxSteps) * n); // rows are q_j
    std::vector<double> alpha, beta, y, w(static_cast<std::size_t>(n)),
        u(static_cast<std::size_t>(n));
    for (int restart = 0; restart < 30; ++restart) {
        const double norm0 = std::sqrt(dot(start.data(), start.data(), n));
        for (int i = 0; i < n; ++i)
            basis[std::size_t(i)] = start[std::size_t(i)] / norm0;
        alpha.clear();
        beta.clear();
        double previousTheta = -HUGE_VAL; // the largest Ritz value of the step before
        for (int j = 0; j < maxSteps; ++j) {
            const double* q = basis.data() + std::size_t(j) * n;
            multiply(q, w.data());
            ++result.multiplications;
            alpha.push_back(dot(q, w.data(), n));
            reorthogonalise(basis.data(), j, n, w.data());
            const double b = std::sqrt(dot(w.data(), w.data(), n));
            const int m = j + 1;
            const bool exhausted = b <= 1e-13 * std::max(std::abs(alpha.front()), 1e-300);
            auto extendBasis = [&] {
                beta.push_back(b);
                double* next = basis.data() + std::size_t(j + 1) * n;
                for (int i = 0; i < n; ++i)
                    next[i] = w[std::size_t(i)] / b;
            };
            // Convergence is tested after every product: a product with a large
            // operator (PriMaPs' covariance of 1,600 x 384 features) costs tens of
            // microseconds, and the Ritz vector is formed only when it is returned or
            // restarted from. The residual is first estimated in O(m); only near
            // convergence (within 4x of the bound) does LAPACK solve the tridiagonal
            // problem, and its residual decides, as it did when it ran after every
            // product: the estimate only skips solves that could not have converged.
            double estimate = 0, lastComponent = 0;
            if (!exhausted && m < maxSteps &&
                estimateLargestRitz(alpha, beta, m, previousTheta, estimate, lastComponent)) {
                previousTheta = estimate;
                if (b * lastComponent > 4.0 * tolerance * std::max(std::abs(estimate), 1e-300)) {
                    extendBasis();
                    continue;
                }
            }
            const double theta = largestTridiagonal(alpha, beta, m, y);
            previousTheta = theta;
            const double residual = b * std::abs(y[std::size_t(m - 1)]);
            const bool converged =
                exhausted || residual <= tolerance * std::max(std::abs(theta), 1e-300);
            if (converged || m == maxSteps) {
                std::fill(u.begin(), u.end(), 0.0);
                for (int k = 0; k < m; ++k) {
                    const double* bk = basis.data() + std::size_t(k) * n;
                    for (int i = 0; i < n; ++i)
                        u[std::size_t(i)] += y[std::size_t(k)] * bk[i];
                }
                const double un = std::sqrt(dot(u.data(), u.data(), n));
                if (un > 0)
                    for (double& v : u)
                        v /= un;
                result.value = theta;
                result.vector = u;
                if (converged)
                    return result;
                break; // restart from the Ritz vector
            }
            extendBasis();
        }
        start = u;
    }
    return result;
}

} // namespace primaps
