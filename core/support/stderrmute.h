// SPDX-License-Identifier: MIT
// Image decoders (libjpeg, libpng) print warnings such as "Premature end of JPEG
// file" straight to the process's standard error, from whichever thread decodes.
// The project reports such a file itself, as a warning naming it (a truncated
// file is found by its header walk, image/imageheader.h), so their raw text is
// muted while they decode such a file, and only then: the mute is process-wide,
// and a complete file must not silence another thread's message or a crash report. The mute must work with several decoding threads at
// once: the first one redirects descriptor 2 to /dev/null, the last one gives it
// back, and the program's own messages go to unmutedStderr(), which no mute
// touches, so that a decode on one thread never swallows an error line of another.
#pragma once

namespace primaps {

/// While at least one StderrMute exists (on any thread), descriptor 2 writes to
/// /dev/null. Construction and destruction are thread-safe and nest. Whatever
/// else writes to descriptor 2 during that time (a library's warning on another
/// thread) is lost; a program's own messages belong on unmutedStderr().
class StderrMute
{
public:
    StderrMute();
    ~StderrMute();
    /// False in an AddressSanitizer build (the sanitizer and fuzz builds), where
    /// nothing is muted: a fault inside a decoder is reported on descriptor 2 from
    /// inside the decode (so is libFuzzer's out-of-memory line), and those builds
    /// exist to show it.
    static bool mutes();
    /// How many StderrMute objects muted so far in this process (for tests: the
    /// image loader mutes only for files its header walk found cut short).
    static long engagements();
    StderrMute(const StderrMute&) = delete;
    StderrMute& operator=(const StderrMute&) = delete;
};

/// A descriptor of the process's standard error as it was before any mute: a
/// duplicate made at the first call (of the real descriptor 2 even while a mute
/// is active), kept open for the life of the process. -1 when it cannot be made.
/// Thread-safe.
int unmutedStderr();

} // namespace primaps
