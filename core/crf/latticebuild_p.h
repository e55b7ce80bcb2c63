// SPDX-License-Identifier: MIT
// Private to core/crf: how a permutohedral lattice's tables are built (the
// blur's neighbours, the spatial kernel's matrix), with the previous ways kept
// as switches for the tests and the benchmarks' A/B pairs.
#pragma once

#include <cstdint>

namespace primaps::detail {

/// How PermutohedralLattice finds each vertex's neighbours along the lattice
/// directions. Sorted (the default): the vertex keys packed into 64-bit
/// integers, sorted once, and each direction found by one merge of the sorted
/// keys with themselves shifted by the direction (a translation keeps the
/// order); sequential reads instead of a cache miss per probe. HashTable: a
/// probe of the vertex table per vertex and direction (the previous way, also
/// the fallback when the keys do not fit in 64 bits). Both give the same
/// neighbours; the switch is for the tests and the benchmark's A/B.
enum class NeighbourSearch
{
    Sorted,
    HashTable,
};

/// Process-wide; set between lattice builds, like setPreferredCrfKernel().
NeighbourSearch preferredNeighbourSearch();
void setPreferredNeighbourSearch(NeighbourSearch search);

/// `keys` holds `vertices` keys of `dim` coordinates each (the first d of the
/// d + 1 lattice coordinates, vertex-major). Fills `neighbours` (2 * (dim + 1) *
/// vertices entries, zero on entry) as PermutohedralLattice keeps them: for
/// direction j and vertex v, [2 * (j * vertices + v)] the 1-based minus
/// neighbour and [... + 1] the plus neighbour, 0 where there is none; the plus
/// neighbour along j < dim adds 1 to every coordinate and subtracts dim + 1
/// from coordinate j, along j = dim adds 1 to every coordinate. Returns false,
/// leaving `neighbours` untouched, when the keys' ranges do not pack into 64
/// bits. Spreads over OpenCV's thread pool.
bool sortedLatticeNeighbours(const std::int32_t* keys, int dim, int vertices,
                             std::int32_t* neighbours);

/// How PermutohedralLattice::toMatrix() computes the matrix. Products (the
/// default): the splatting's sparse rows (vertex -> points) pushed through the
/// d + 1 blur passes as sparse rows, each a merge of three sorted rows, then
/// each point's row a weighted merge of its d + 1 vertices' rows: every vertex
/// is blurred once, and no row is ever sorted. Paths: each point's d + 1
/// vertices pushed through the blur on their own and the row gathered and
/// sorted (the previous way, several times slower). The same matrix up to
/// float rounding (another summation order).
enum class MatrixConstruction
{
    Products,
    Paths,
};

/// Process-wide; set between builds, like setPreferredNeighbourSearch().
MatrixConstruction preferredMatrixConstruction();
void setPreferredMatrixConstruction(MatrixConstruction construction);

} // namespace primaps::detail
