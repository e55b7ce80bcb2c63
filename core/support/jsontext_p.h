// SPDX-License-Identifier: MIT
// Parsing JSON text that came from a file, with the error every reader gives.
// Private to core (nlohmann_json is a private dependency).
#pragma once

#include "support/error.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace primaps {

/// Parses `text`; throws primaps::Error "'<source>': not JSON (<why>)" when it is not JSON.
inline nlohmann::json parseJsonText(const std::string& text, const std::string& source)
{
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        throw Error("'" + source + "': not JSON (the file is empty)");
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // Without the library's "[json.exception.parse_error.101] ", which
        // tells a user nothing.
        std::string why = e.what();
        if (!why.empty() && why.front() == '[' && why.find("] ") != std::string::npos)
            why.erase(0, why.find("] ") + 2);
        throw Error("'" + source + "': not JSON (" + why + ")");
    }
}

/// `value` as a whole number in [lo, hi]; throws primaps::Error "<what> is not a
/// whole number from <lo> to <hi>" otherwise (a string, 2.5, 1e300, an integer out
/// of range). nlohmann's get<int>() and get<std::vector<T>>() convert a float such
/// as 4e41 with undefined behaviour and wrap integers out of range (found by the
/// annotations fuzz target): untrusted JSON is read through these instead.
inline std::int64_t jsonInteger(const nlohmann::json& value, const std::string& what,
                                std::int64_t lo, std::int64_t hi)
{
    bool ok = false;
    std::int64_t v = 0;
    if (value.is_number_unsigned()) {
        const std::uint64_t u = value.get<std::uint64_t>();
        ok = u <= std::uint64_t(std::numeric_limits<std::int64_t>::max());
        v = ok ? std::int64_t(u) : 0;
    } else if (value.is_number_integer()) {
        v = value.get<std::int64_t>();
        ok = true;
    } else if (value.is_number_float()) {
        // Whole-valued floats (JSON writers that print 640.0) within int64's range.
        const double d = value.get<double>();
        ok = d >= -9.2e18 && d <= 9.2e18 && d == std::floor(d);
        v = ok ? std::int64_t(d) : 0;
    }
    if (!ok || v < lo || v > hi)
        throw Error(what + " is not a whole number from " + std::to_string(lo) + " to " +
                    std::to_string(hi));
    return v;
}

/// jsonInteger() within the range of int.
inline int jsonInt(const nlohmann::json& value, const std::string& what)
{
    return int(
        jsonInteger(value, what, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

/// `value` as a whole number from 0 to 2^64 - 1 (a seed, an RNG state): JSON writes
/// those above 2^63 - 1 as unsigned integers, which jsonInteger() does not take.
inline std::uint64_t jsonUnsigned64(const nlohmann::json& value, const std::string& what)
{
    if (value.is_number_unsigned())
        return value.get<std::uint64_t>();
    try {
        return std::uint64_t(jsonInteger(value, what, 0, std::numeric_limits<std::int64_t>::max()));
    } catch (const Error&) {
        throw Error(what + " is not a whole number from 0 to " +
                    std::to_string(std::numeric_limits<std::uint64_t>::max()));
    }
}

/// jsonInt() of object[key] when the object has it, `fallback` otherwise (nlohmann's
/// value(key, fallback) converts like get<int>()). `what` names the field in the error.
inline int jsonIntOr(const nlohmann::json& object, const std::string& key, int fallback,
                     const std::string& what)
{
    return object.is_object() && object.contains(key) ? jsonInt(object.at(key), what) : fallback;
}

/// An array of whole numbers, each within the range of T (an integer type).
template <typename T>
std::vector<T> jsonIntegers(const nlohmann::json& value, const std::string& what)
{
    if (!value.is_array())
        throw Error(what + " is not an array");
    std::vector<T> out;
    out.reserve(value.size());
    for (const nlohmann::json& element : value)
        out.push_back(T(jsonInteger(element, what, std::int64_t(std::numeric_limits<T>::min()),
                                    std::int64_t(std::numeric_limits<T>::max()))));
    return out;
}

/// `value` as a number from lo to hi, an end excluded when asked; throws
/// primaps::Error "<what> is not a number in [lo, hi]" (brackets as the range is)
/// otherwise: a string, null, true, a value beyond the range. Parsed JSON numbers
/// are finite (nlohmann refuses 1e999), but get<float>() converts 1e300 with
/// undefined behaviour, and a negative rate or a threshold of 7 is nonsense that a
/// computation would not notice: untrusted floating-point fields are read through
/// this, with the range the command line accepts for the same setting.
inline double jsonNumber(const nlohmann::json& value, const std::string& what, double lo,
                         double hi, bool excludeLo = false, bool excludeHi = false)
{
    const double v = value.is_number() ? value.get<double>() : std::nan("");
    const bool ok = std::isfinite(v) && (excludeLo ? v > lo : v >= lo) &&
                    (excludeHi ? v < hi : v <= hi);
    if (!ok) {
        std::ostringstream range;
        range << (excludeLo ? '(' : '[') << lo << ", " << hi << (excludeHi ? ')' : ']');
        throw Error(what + " is not a number in " + range.str());
    }
    return v;
}

/// An array of numbers within the range of float (prototypes, optimiser moments);
/// throws primaps::Error "<what> ..." for anything else.
inline std::vector<float> jsonFloats(const nlohmann::json& value, const std::string& what)
{
    if (!value.is_array())
        throw Error(what + " is not an array");
    std::vector<float> out;
    out.reserve(value.size());
    const double largest = double(std::numeric_limits<float>::max());
    for (const nlohmann::json& element : value)
        out.push_back(float(jsonNumber(element, what + ": an element", -largest, largest)));
    return out;
}

} // namespace primaps
