// SPDX-License-Identifier: MIT
// Parsing JSON text that came from a file, with the error every reader gives.
// Private to core (nlohmann_json is a private dependency).
#pragma once

#include "support/error.h"

#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>

namespace primaps {

/// Parses `text`; throws primaps::Error "'<source>': not JSON (<why>)" when it is not JSON.
inline nlohmann::json parseJsonText(const std::string& text, const std::string& source)
{
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error("'" + source + "': not JSON (" + e.what() + ")");
    }
}

/// `value` as an int; throws primaps::Error "<what> is not a whole number in the
/// range of int" otherwise. nlohmann's get<int>() converts a float such as 4e41
/// with undefined behaviour (found by the annotations fuzz target).
inline int jsonInt(const nlohmann::json& value, const std::string& what)
{
    if (value.is_number_integer()) {
        const auto v = value.get<std::int64_t>();
        if (value.is_number_unsigned() ? value.get<std::uint64_t>() <= 0x7fffffffu
                                       : (v >= -2147483647 - 1 && v <= 2147483647))
            return int(v);
    } else if (value.is_number_float()) {
        const double d = value.get<double>();
        if (d >= -2147483648.0 && d <= 2147483647.0 && d == double(std::int64_t(d)))
            return int(d);
    }
    throw Error(what + " is not a whole number in the range of int");
}

} // namespace primaps
