// SPDX-License-Identifier: MIT
// File names are bytes on Linux, and not every byte string is UTF-8. Qt decodes
// names as UTF-8 and cannot open one that is not, so the CLI and the studio name
// such a file with its bytes escaped; both use these two functions, so that a
// file is named the same way in either.
#pragma once

#include <string>
#include <string_view>

namespace primaps {

/// True when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF, no sequence cut off at the end).
bool isWellFormedUtf8(std::string_view bytes);

/// `bytes` for a message, as UTF-8: its well-formed sequences as they are, every
/// other byte as \xHH ("caf\xe9.jpg").
std::string escapeMalformedUtf8(std::string_view bytes);

} // namespace primaps
