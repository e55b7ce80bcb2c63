// SPDX-License-Identifier: MIT
#include "support/utf8bytes.h"

#include <cstdio>

namespace primaps {

namespace {

// The length of the well-formed UTF-8 sequence that starts at bytes[i], or 0
// (the Unicode Standard's table 3-7 of well-formed byte sequences).
std::size_t sequenceAt(std::string_view bytes, std::size_t i)
{
    const auto at = [&](std::size_t k) { return unsigned(static_cast<unsigned char>(bytes[k])); };
    const unsigned lead = at(i);
    if (lead < 0x80)
        return 1;
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF; // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0; // no overlong forms
        else if (lead == 0xED)
            high = 0x9F; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;
        else if (lead == 0xF4)
            high = 0x8F; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (i + length > bytes.size())
        return 0;
    if (at(i + 1) < low || at(i + 1) > high)
        return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (at(i + k) < 0x80 || at(i + k) > 0xBF)
            return 0;
    return length;
}

} // namespace

bool isWellFormedUtf8(std::string_view bytes)
{
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = sequenceAt(bytes, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

std::string escapeMalformedUtf8(std::string_view bytes)
{
    std::string text;
    text.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = sequenceAt(bytes, i);
        if (n > 0) {
            text.append(bytes.substr(i, n));
            i += n;
        } else {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x",
                          unsigned(static_cast<unsigned char>(bytes[i])));
            text += escaped;
            ++i;
        }
    }
    return text;
}

} // namespace primaps
