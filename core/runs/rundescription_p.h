// SPDX-License-Identifier: MIT
// What makes a run.json one of ours; private to core (nlohmann_json is a
// private dependency). Shared by the reader of run folders and the guard that
// keeps a fit out of a user's folder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace primaps {

/// Whether `j` is a run description written by a fit: an object whose "format"
/// is the string "primaps-run" (value() would throw nlohmann's type_error for a
/// "format" that is not a string, so it is checked first).
inline bool isFitRunDescription(const nlohmann::json& j)
{
    return j.is_object() && j.contains("format") && j.at("format").is_string() &&
           j.at("format").get<std::string>() == "primaps-run";
}

} // namespace primaps
