// SPDX-License-Identifier: MIT
// SHA-256 (FIPS 180-4) of a file, for the provenance of exported files: which
// backbone checkpoint made the labels. No Qt, no OpenSSL. Any thread.
#pragma once

#include <string>

namespace primaps::interchange {

/// 64 lowercase hex digits of the SHA-256 of `bytes`.
std::string sha256Hex(const std::string& bytes);

/// The same for a file, read in blocks (never whole). Throws primaps::Error
/// naming the file when it cannot be read.
std::string sha256OfFile(const std::string& path);

} // namespace primaps::interchange
