// SPDX-License-Identifier: MIT
// Parsing JSON text that came from a file, with the error every reader gives.
// Private to core (nlohmann_json is a private dependency).
#pragma once

#include "support/error.h"

#include <nlohmann/json.hpp>
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

} // namespace primaps
