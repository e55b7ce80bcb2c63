// SPDX-License-Identifier: MIT
#pragma once
// Values the canvas's translation units share (canvasinteraction.cpp grabs the
// divider, canvasforeground.cpp paints it); not part of its interface.

namespace primaps::canvas_detail {

/// How close (screen pixels) a press must be to the divider to grab it.
constexpr int kDividerGrab = 9;

} // namespace primaps::canvas_detail
