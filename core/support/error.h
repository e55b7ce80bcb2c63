// SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>
#include <string>

namespace primaps {

/// The one exception type that core throws for bad input, unreadable files and
/// violated preconditions. The message is meant for the user: it names the file
/// or the parameter and says what is wrong, in one line.
class Error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

} // namespace primaps
