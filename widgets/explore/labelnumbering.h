// SPDX-License-Identifier: MIT
// How the studio numbers the proposals that survive into the label map: 1, 2,
// 3, … in extraction order, skipping the proposals that lost every pixel to
// later ones, the unassigned channel or the CRF. The legend, the step list and
// the canvas's read-outs all use these numbers, so that "label 3" is one thing.
#pragma once

#include <cstddef>
#include <vector>

namespace primaps {

/// numbers[id] = the consecutive number of mask id `id` (id > 0 with a share
/// above zero), 0 for ids without pixels and for id 0 (unassigned).
inline std::vector<int> consecutiveLabelNumbers(const std::vector<double>& shares)
{
    std::vector<int> numbers(shares.size(), 0);
    int next = 0;
    for (std::size_t id = 1; id < shares.size(); ++id)
        if (shares[id] > 0.0)
            numbers[id] = ++next;
    return numbers;
}

} // namespace primaps
