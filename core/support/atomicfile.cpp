// SPDX-License-Identifier: MIT
#include "support/atomicfile.h"

#include "support/error.h"

#include <opencv2/imgcodecs.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace primaps {

namespace {

std::string systemError() { return std::strerror(errno); }

} // namespace

void writeFileAtomic(const std::string& path, const std::string& bytes)
{
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string pattern = (folder / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0)
        throw Error("cannot write '" + path + "': " + systemError());

    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const std::string reason = systemError();
            ::close(fd);
            ::unlink(pattern.c_str());
            throw Error("cannot write '" + path + "': " + reason);
        }
        written += std::size_t(n);
    }
    // mkstemp creates the file 0600; outputs are ordinary user files.
    ::fchmod(fd, 0644);
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const std::string reason = systemError();
        ::unlink(pattern.c_str());
        throw Error("cannot write '" + path + "': " + reason);
    }
    if (std::rename(pattern.c_str(), path.c_str()) != 0) {
        const std::string reason = systemError();
        ::unlink(pattern.c_str());
        throw Error("cannot write '" + path + "': " + reason);
    }
}

void writeImageAtomic(const std::string& path, const cv::Mat& image)
{
    const std::string ext = std::filesystem::path(path).extension().string();
    if (ext.empty())
        throw Error("cannot write '" + path + "': the file name has no image extension");
    std::vector<uchar> buffer;
    bool ok = false;
    try {
        ok = cv::imencode(ext, image, buffer);
    } catch (const cv::Exception& e) {
        throw Error("cannot encode '" + path + "': " + e.err);
    }
    if (!ok)
        throw Error("cannot encode '" + path + "' as " + ext);
    writeFileAtomic(path, std::string(buffer.begin(), buffer.end()));
}

std::string createTemporaryBeside(const std::string& path, const std::string& suffix)
{
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string pattern = (folder / ("." + target.filename().string() + ".XXXXXX" + suffix)).string();
    const int fd = ::mkstemps(pattern.data(), int(suffix.size()));
    if (fd < 0)
        throw Error("cannot write '" + path + "': " + systemError());
    ::fchmod(fd, 0644);
    ::close(fd);
    return pattern;
}

void commitTemporaryFile(const std::string& temporary, const std::string& path)
{
    const int fd = ::open(temporary.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
        const std::string reason = systemError();
        if (fd >= 0)
            ::close(fd);
        ::unlink(temporary.c_str());
        throw Error("cannot write '" + path + "': " + reason);
    }
    ::close(fd);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        const std::string reason = systemError();
        ::unlink(temporary.c_str());
        throw Error("cannot write '" + path + "': " + reason);
    }
}

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot open '" + path + "': " + systemError());
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad())
        throw Error("cannot read '" + path + "'");
    return out.str();
}

std::string readFile(const std::string& path, std::size_t maxBytes)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found)
        throw Error("cannot open '" + path + "': no such file");
    if (ec)
        throw Error("cannot open '" + path + "': " + ec.message());
    if (status.type() != fs::file_type::regular)
        throw Error("'" + path + "' is not a regular file");
    const std::uintmax_t size = fs::file_size(path, ec);
    auto tooLarge = [&] {
        return Error("'" + path + "' is larger than " + std::to_string(maxBytes >> 20) +
                     " MB; refused unread");
    };
    if (!ec && size > maxBytes)
        throw tooLarge();
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot open '" + path + "': " + systemError());
    // One byte more than expected shows a file that grew since its size was read.
    const std::size_t expected = ec ? maxBytes : std::size_t(size);
    std::string bytes(expected + 1, '\0');
    in.read(bytes.data(), std::streamsize(bytes.size()));
    if (in.bad())
        throw Error("cannot read '" + path + "'");
    bytes.resize(std::size_t(in.gcount()));
    if (bytes.size() > expected)
        throw Error("'" + path + "' changed while it was read; refused");
    return bytes;
}

} // namespace primaps
