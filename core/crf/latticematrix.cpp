// SPDX-License-Identifier: MIT
// The permutohedral lattice's filtering written out as a sparse matrix
// (PermutohedralLattice::toMatrix) and its application (LatticeMatrix::apply).
#include "crf/crfkernels_p.h"
#include "crf/latticebuild_p.h"
#include "crf/parallelranges_p.h"
#include "crf/permutohedral.h"
#include "support/error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <opencv2/core.hpp>
#include <utility>
#include <vector>

namespace primaps {

using detail::parallelRanges;

namespace {

std::atomic<detail::MatrixConstruction> preferredConstruction{detail::MatrixConstruction::Products};

// Sparse rows, columns increasing within a row. Row i has count[i] entries
// from start[i] on; rows may leave room behind them (each is written into
// space reserved for its largest possible size), so that the rows of a blur
// pass can be written in parallel without growing or concatenating arrays.
struct SparseRows
{
    LargeVector<std::size_t> start;
    LargeVector<std::int32_t> count;
    LargeVector<std::int32_t> column;
    LargeVector<float> weight;
};

struct RowView
{
    const std::int32_t* column = nullptr;
    const float* weight = nullptr;
    std::size_t count = 0;
};

RowView view(const SparseRows& rows, std::size_t row)
{
    const std::size_t first = rows.start[row];
    return {rows.column.data() + first, rows.weight.data() + first, std::size_t(rows.count[row])};
}

constexpr std::int32_t kNoColumn = 0x7fffffff;

// Writes self + (minus + plus) / 2 column by column (an absent entry counts as
// zero) to `column`, `weight`: one blur pass applied to a row, as the lattice's
// blur computes it. Returns the entries written (at most the three counts).
std::size_t blurRow(RowView self, RowView minus, RowView plus, std::int32_t* column, float* weight)
{
    std::size_t a = 0, b = 0, c = 0, n = 0;
    for (;;) {
        const std::int32_t ca = a < self.count ? self.column[a] : kNoColumn;
        const std::int32_t cb = b < minus.count ? minus.column[b] : kNoColumn;
        const std::int32_t cc = c < plus.count ? plus.column[c] : kNoColumn;
        const std::int32_t at = std::min(ca, std::min(cb, cc));
        if (at == kNoColumn)
            return n;
        const float wa = ca == at ? self.weight[a++] : 0.0f;
        const float wb = cb == at ? minus.weight[b++] : 0.0f;
        const float wc = cc == at ? plus.weight[c++] : 0.0f;
        column[n] = at;
        weight[n] = wa + 0.5f * (wb + wc);
        ++n;
    }
}

// Writes sum + w * row column by column (absent entries count as zero);
// returns the entries written (at most sumCount + row.count).
std::size_t addScaledRow(const std::int32_t* sumColumn, const float* sumWeight,
                         std::size_t sumCount, RowView row, float w, std::int32_t* column,
                         float* weight)
{
    std::size_t a = 0, b = 0, n = 0;
    while (a < sumCount || b < row.count) {
        const std::int32_t ca = a < sumCount ? sumColumn[a] : kNoColumn;
        const std::int32_t cb = b < row.count ? row.column[b] : kNoColumn;
        const std::int32_t at = std::min(ca, cb);
        const float wa = ca == at ? sumWeight[a++] : 0.0f;
        const float wb = cb == at ? row.weight[b++] : 0.0f;
        column[n] = at;
        weight[n] = wa + w * wb;
        ++n;
    }
    return n;
}

// Reserves rows.start for n rows of at most capacity(i) entries each.
template <typename Capacity>
void reserveRows(SparseRows& rows, int n, const Capacity& capacity)
{
    rows.start.resize(std::size_t(n) + 1);
    rows.count.resize(std::size_t(n));
    std::size_t total = 0;
    for (int i = 0; i < n; ++i) {
        rows.start[std::size_t(i)] = total;
        total += capacity(i);
    }
    rows.start[std::size_t(n)] = total;
    // Grows only: the buffers of the previous pass are reused.
    if (rows.column.size() < total) {
        rows.column.resize(total);
        rows.weight.resize(total);
    }
}

// The matrix of rows made in chunks: chunk c's row lengths, columns and weights.
LatticeMatrix concatenate(const std::vector<std::vector<std::int32_t>>& counts,
                          const std::vector<std::vector<std::int32_t>>& columns,
                          const std::vector<std::vector<float>>& weights, int rows)
{
    LatticeMatrix matrix;
    std::size_t total = 0;
    for (const auto& column : columns)
        total += column.size();
    matrix.rowStart.reserve(std::size_t(rows) + 1);
    matrix.rowStart.push_back(0);
    matrix.column.reserve(total);
    matrix.weight.reserve(total);
    for (std::size_t c = 0; c < counts.size(); ++c) {
        for (const std::int32_t n : counts[c])
            matrix.rowStart.push_back(matrix.rowStart.back() + n);
        matrix.column.insert(matrix.column.end(), columns[c].begin(), columns[c].end());
        matrix.weight.insert(matrix.weight.end(), weights[c].begin(), weights[c].end());
    }
    return matrix;
}

// What the matrix is made from: the lattice's tables (PermutohedralLattice's
// members of the same names).
struct LatticeTablesView
{
    int dim;
    int points;
    int vertices;
    const LargeVector<std::int32_t>& pointVertex;
    const LargeVector<float>& pointWeight;
    const LargeVector<std::int32_t>& splatStart;
    const LargeVector<std::int32_t>& splatPoint;
    const LargeVector<float>& splatWeight;
    const LargeVector<std::int32_t>& neighbours;
};

// The two ways of toMatrix() (detail::MatrixConstruction); empty when a row
// would exceed maxPerRow.
LatticeMatrix matrixByProducts(const LatticeTablesView& lattice, int maxPerRow)
{
    // The filtering is alpha * Slice * B_d ... B_0 * Splat (the scales folded
    // into the splatting and slicing weights). Splat's rows (vertex -> its
    // points, in increasing point order) are the start; each blur pass makes a
    // vertex's row from its own and its two neighbours' rows. A vertex's blurred
    // row is part of the row of every point that touches it, so a vertex row
    // over maxPerRow entries already makes the matrix too wide.
    const std::size_t limit = std::size_t(std::max(maxPerRow, 0));
    const std::size_t m = std::size_t(lattice.vertices);
    SparseRows current;
    current.start.assign(lattice.splatStart.begin(), lattice.splatStart.end());
    current.count.resize(m);
    for (std::size_t v = 0; v < m; ++v) {
        current.count[v] = lattice.splatStart[v + 1] - lattice.splatStart[v];
        if (std::size_t(current.count[v]) > limit)
            return {};
    }
    current.column.assign(lattice.splatPoint.begin(), lattice.splatPoint.end());
    current.weight.assign(lattice.splatWeight.begin(), lattice.splatWeight.end());
    SparseRows next;
    std::atomic<bool> tooWide{false};
    for (int j = 0; j <= lattice.dim; ++j) {
        const std::int32_t* nb = lattice.neighbours.data() + 2 * std::size_t(j) * m;
        auto rowOf = [&](std::int32_t slot) {
            return slot > 0 ? view(current, std::size_t(slot) - 1) : RowView{};
        };
        reserveRows(next, lattice.vertices, [&](int v) {
            return std::size_t(current.count[std::size_t(v)]) +
                   rowOf(nb[2 * std::size_t(v)]).count + rowOf(nb[2 * std::size_t(v) + 1]).count;
        });
        parallelRanges(lattice.vertices, 2048, [&](int begin, int end) {
            for (int v = begin; v < end; ++v) {
                const std::size_t at = next.start[std::size_t(v)];
                const std::size_t n =
                    blurRow(view(current, std::size_t(v)), rowOf(nb[2 * std::size_t(v)]),
                            rowOf(nb[2 * std::size_t(v) + 1]), next.column.data() + at,
                            next.weight.data() + at);
                next.count[std::size_t(v)] = std::int32_t(n);
                if (n > limit)
                    tooWide = true;
            }
        });
        if (tooWide)
            return {};
        std::swap(current, next);
    }

    // Point p's row: alpha * the sum over its simplex corners of weight * the
    // corner's blurred row, added corner by corner as the slicing does. Rows
    // are made in fixed chunks of points (the same matrix for any thread
    // count), each chunk's rows kept at their exact size and concatenated.
    SparseRows().column.swap(next.column);
    SparseRows().weight.swap(next.weight);
    const std::size_t d1 = std::size_t(lattice.dim) + 1;
    const float alpha = 1.0f / (1.0f + std::pow(2.0f, -float(lattice.dim)));
    constexpr int kChunks = 64;
    std::vector<std::vector<std::int32_t>> counts(kChunks), columns(kChunks);
    std::vector<std::vector<float>> weights(kChunks);
    parallelRanges(kChunks, 1, [&](int chunkBegin, int chunkEnd) {
        std::vector<std::int32_t> chunkColumn, sumColumn, nextColumn;
        std::vector<float> chunkWeight, sumWeight, nextWeight;
        for (int c = chunkBegin; c < chunkEnd && !tooWide; ++c) {
            const int first = int(std::int64_t(lattice.points) * c / kChunks);
            const int last = int(std::int64_t(lattice.points) * (c + 1) / kChunks);
            chunkColumn.clear();
            chunkWeight.clear();
            for (int p = first; p < last; ++p) {
                std::size_t room = 0;
                for (std::size_t r = 0; r < d1; ++r)
                    room += std::size_t(current.count[std::size_t(lattice.pointVertex[std::size_t(p) * d1 + r]) - 1]);
                if (sumColumn.size() < room) {
                    sumColumn.resize(room);
                    nextColumn.resize(room);
                    sumWeight.resize(room);
                    nextWeight.resize(room);
                }
                std::size_t n = 0;
                for (std::size_t r = 0; r < d1; ++r) {
                    const std::size_t e = std::size_t(p) * d1 + r;
                    n = addScaledRow(sumColumn.data(), sumWeight.data(), n,
                                     view(current, std::size_t(lattice.pointVertex[e]) - 1),
                                     lattice.pointWeight[e], nextColumn.data(), nextWeight.data());
                    sumColumn.swap(nextColumn);
                    sumWeight.swap(nextWeight);
                }
                if (n > limit) {
                    tooWide = true;
                    break;
                }
                chunkColumn.insert(chunkColumn.end(), sumColumn.begin(),
                                   sumColumn.begin() + std::ptrdiff_t(n));
                for (std::size_t i = 0; i < n; ++i)
                    chunkWeight.push_back(alpha * sumWeight[i]);
                counts[std::size_t(c)].push_back(std::int32_t(n));
            }
            columns[std::size_t(c)].assign(chunkColumn.begin(), chunkColumn.end());
            weights[std::size_t(c)].assign(chunkWeight.begin(), chunkWeight.end());
        }
    });
    if (tooWide)
        return {};
    return concatenate(counts, columns, weights, lattice.points);
}

LatticeMatrix matrixByPaths(const LatticeTablesView& lattice, int maxPerRow)
{
    const std::size_t d1 = std::size_t(lattice.dim) + 1;
    const float alpha = 1.0f / (1.0f + std::pow(2.0f, -float(lattice.dim)));
    using Entry = std::pair<std::int32_t, float>;
    // Sums the weights of equal indices; sorts by index.
    auto merge = [](std::vector<Entry>& entries) {
        std::sort(entries.begin(), entries.end(),
                  [](const Entry& a, const Entry& b) { return a.first < b.first; });
        std::size_t kept = 0;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (kept > 0 && entries[kept - 1].first == entries[i].first)
                entries[kept - 1].second += entries[i].second;
            else
                entries[kept++] = entries[i];
        }
        entries.resize(kept);
    };

    // Row i of the matrix: slice weights times the rows of the blur (B_d ... B_0,
    // each B_j = I + (shift to the minus + shift to the plus neighbour) / 2, which is
    // symmetric, so a row is e_v pushed through B_d first, B_0 last) times the
    // splatting. Fixed chunks of rows, concatenated in order: the same matrix for
    // any thread count.
    constexpr int kChunks = 64;
    std::vector<std::vector<std::int32_t>> counts(kChunks), columns(kChunks);
    std::vector<std::vector<float>> weights(kChunks);
    std::atomic<bool> tooWide{false};
    parallelRanges(kChunks, 1, [&](int chunkBegin, int chunkEnd) {
        std::vector<Entry> blurred, pushed, row;
        for (int c = chunkBegin; c < chunkEnd && !tooWide; ++c) {
            const int first = int(std::int64_t(lattice.points) * c / kChunks);
            const int last = int(std::int64_t(lattice.points) * (c + 1) / kChunks);
            for (int p = first; p < last; ++p) {
                row.clear();
                for (std::size_t r = 0; r < d1; ++r) {
                    const std::size_t e = std::size_t(p) * d1 + r;
                    blurred.assign(1, Entry(lattice.pointVertex[e] - 1, alpha * lattice.pointWeight[e]));
                    for (int j = lattice.dim; j >= 0; --j) {
                        const std::int32_t* nb = lattice.neighbours.data() + 2 * std::size_t(j) * lattice.vertices;
                        pushed.clear();
                        for (const Entry& x : blurred) {
                            pushed.push_back(x);
                            for (int side = 0; side < 2; ++side) {
                                const std::int32_t slot = nb[2 * std::size_t(x.first) + side];
                                if (slot > 0)
                                    pushed.emplace_back(slot - 1, 0.5f * x.second);
                            }
                        }
                        merge(pushed);
                        blurred.swap(pushed);
                    }
                    for (const Entry& x : blurred)
                        for (std::int32_t s = lattice.splatStart[std::size_t(x.first)];
                             s < lattice.splatStart[std::size_t(x.first) + 1]; ++s)
                            row.emplace_back(lattice.splatPoint[std::size_t(s)],
                                             x.second * lattice.splatWeight[std::size_t(s)]);
                }
                merge(row);
                if (int(row.size()) > maxPerRow) {
                    tooWide = true;
                    break;
                }
                counts[std::size_t(c)].push_back(std::int32_t(row.size()));
                for (const Entry& x : row) {
                    columns[std::size_t(c)].push_back(x.first);
                    weights[std::size_t(c)].push_back(x.second);
                }
            }
        }
    });
    if (tooWide)
        return {};
    return concatenate(counts, columns, weights, lattice.points);
}

} // namespace

namespace detail {

MatrixConstruction preferredMatrixConstruction()
{
    return preferredConstruction.load(std::memory_order_relaxed);
}

void setPreferredMatrixConstruction(MatrixConstruction construction)
{
    preferredConstruction.store(construction, std::memory_order_relaxed);
}

} // namespace detail

LatticeMatrix PermutohedralLattice::toMatrix(int maxPerRow) const
{
    if (empty())
        throw Error("PermutohedralLattice::toMatrix: the lattice is empty");
    const LatticeTablesView lattice{dim_,         points_,     vertices_,
                                   pointVertex_, pointWeight_, splatStart_,
                                   splatPoint_,  splatWeight_, neighbours_};
    return detail::preferredMatrixConstruction() == detail::MatrixConstruction::Products
               ? matrixByProducts(lattice, maxPerRow)
               : matrixByPaths(lattice, maxPerRow);
}

void LatticeMatrix::apply(const float* in, float* out, int channels, bool accumulate) const
{
    if (empty())
        throw Error("LatticeMatrix::apply: the matrix is empty");
    if (channels < 1)
        throw Error("LatticeMatrix::apply: channels must be at least 1");
    if (!in || !out)
        throw Error("LatticeMatrix::apply: null input or output");
    const detail::CrfKernel kernel = detail::preferredCrfKernel();
    parallelRanges(points(), 1024, [&](int begin, int end) {
        detail::matrixRows(rowStart.data(), column.data(), weight.data(), in, out,
                           std::size_t(channels), begin, end, accumulate, kernel);
    });
}

} // namespace primaps
