// SPDX-License-Identifier: MIT
// readMat73Variable() (matsandbox.h): a MAT 7.3 file's variable, read by matio and
// HDF5 in a forked child and sent to the parent through a pipe.
//
// Why fork and not a thread or a helper program: a crash in libhdf5 must not end the
// studio or the CLI, and a helper executable would have to be found beside every
// program and test that reads .mat files. The child of a multi-threaded process
// owns only the forking thread; glibc keeps malloc usable after fork(), the parent
// never calls HDF5 itself (MAT 5 files need none), so no HDF5 lock or state held by
// another thread is copied into the child. Should the child still deadlock, the
// parent's timeout ends it. The child opens the file read-only and writes only to
// the pipe (and its stderr, sent to /dev/null).
#include "dataset/matsandbox.h"

#include "image/imageio.h"
#include "support/error.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <matio.h>
#include <mutex>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define PRIMAPS_MAT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIMAPS_MAT_SANITIZED 1
#endif
#endif
#ifdef PRIMAPS_MAT_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

namespace primaps {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kReplyMagic = 0x3337544d; // "MT73"

enum class ChildStatus : std::int32_t
{
    Values = 1,       ///< the variable's values follow the reply
    OpenFailed = 2,   ///< Mat_Open failed: not a .mat file HDF5 can open
    Missing = 3,      ///< no such variable, or matio could not read it
    ShapeRefused = 4, ///< checkMatArrayShape() refused it; the parent says why
};

/// The child's one message; for Values, valueBytes bytes follow it.
struct Reply
{
    std::uint32_t magic;
    std::int32_t status;
    MatArrayShape shape;
    std::uint64_t valueBytes;
};

bool writeAll(int fd, const void* data, std::size_t size)
{
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= std::size_t(n);
    }
    return true;
}

void sendReply(int fd, ChildStatus status, const MatArrayShape& shape = {},
               std::uint64_t valueBytes = 0)
{
    Reply reply;
    std::memset(static_cast<void*>(&reply), 0, sizeof reply); // no uninitialised padding sent
    reply.magic = kReplyMagic;
    reply.status = std::int32_t(status);
    reply.shape = shape;
    reply.valueBytes = valueBytes;
    writeAll(fd, &reply, sizeof reply);
}

std::uint64_t valueBytesOf(const MatArrayShape& shape)
{
    // Only after checkMatArrayShape(): rows x cols within the pixel budget, at most
    // 4 channels of at most 8 bytes, so this cannot overflow.
    const std::uint64_t channels = shape.rank == 3 ? shape.dims[2] : 1;
    return shape.dims[0] * shape.dims[1] * channels * matValueBytes(shape.classType);
}

// The most address space the child may take: what the parent has mapped, twice the
// largest variable the pixel budget allows (matio's copy and HDF5's buffers), 1 GiB.
// An HDF5 file that makes the library allocate more ends the child, not the machine.
// 0 (no limit) under AddressSanitizer, which reserves terabytes of address space.
rlim_t childAddressLimit()
{
#ifdef PRIMAPS_MAT_SANITIZED
    return 0;
#else
    std::ifstream statm("/proc/self/statm");
    unsigned long long pages = 0;
    if (!(statm >> pages))
        return 0;
    const std::uint64_t largest = std::uint64_t(pixelBudget().maxPixels) * 4 * 8;
    return rlim_t(pages * std::uint64_t(sysconf(_SC_PAGESIZE)) + 2 * largest + (1ull << 30));
#endif
}

[[noreturn]] void runChild(MatChildBody body, const char* path, const char* variable,
                           int replyFd, rlim_t addressLimit)
{
    // A crash ends the child by its signal, which the parent reports; no handler of a
    // sanitizer or of libFuzzer (which would save the input as its own finding) runs.
    struct sigaction plain;
    std::memset(&plain, 0, sizeof plain);
    plain.sa_handler = SIG_DFL;
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP})
        sigaction(sig, &plain, nullptr);
#ifdef PRIMAPS_MAT_SANITIZED
    __sanitizer_set_death_callback(nullptr);
#endif
    // HDF5 prints its error stack for every damaged file: not for our users' terminals.
    const int devNull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devNull >= 0)
        ::dup2(devNull, STDERR_FILENO);
    if (addressLimit > 0) {
        const rlimit limit{addressLimit, addressLimit};
        setrlimit(RLIMIT_AS, &limit);
    }
    body(path, variable, replyFd);
    _exit(0); // no atexit handlers, no flushing of the parent's stdio buffers
}

std::string describeEnd(int status)
{
    if (WIFSIGNALED(status)) {
        switch (WTERMSIG(status)) {
        case SIGSEGV:
            return "killed by SIGSEGV, a segmentation fault";
        case SIGBUS:
            return "killed by SIGBUS";
        case SIGABRT:
            return "killed by SIGABRT, an abort";
        case SIGFPE:
            return "killed by SIGFPE";
        case SIGILL:
            return "killed by SIGILL";
        case SIGKILL:
            return "killed by SIGKILL, e.g. out of memory";
        default:
            return "killed by signal " + std::to_string(WTERMSIG(status));
        }
    }
    if (WIFEXITED(status))
        return "its reader process exited with status " + std::to_string(WEXITSTATUS(status));
    return "its reader process ended abnormally";
}

/// The parent's side: the pipe's read end and the child, which it always reaps.
class ReaderChild
{
public:
    enum class Outcome
    {
        Complete,
        Ended, ///< the child closed the pipe or exited before sending all
        TimedOut,
    };

    ReaderChild(pid_t pid, int fd, double timeoutSeconds)
        : pid_(pid), fd_(fd),
          deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(timeoutSeconds)))
    {
    }
    ReaderChild(const ReaderChild&) = delete;
    ReaderChild& operator=(const ReaderChild&) = delete;
    ~ReaderChild()
    {
        ::close(fd_);
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
            }
        }
    }

    void extendDeadline(double seconds)
    {
        deadline_ += std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(seconds));
    }

    Outcome read(void* destination, std::size_t size)
    {
        auto* out = static_cast<char*>(destination);
        std::size_t got = 0;
        while (got < size) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline_ - Clock::now());
            if (left.count() <= 0)
                return Outcome::TimedOut;
            pollfd p{fd_, POLLIN, 0};
            // After the child ended, only what is already in the pipe counts.
            const int wait = reaped_ ? 0 : int(std::min<long long>(left.count(), 100));
            const int ready = ::poll(&p, 1, wait);
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready < 0)
                return Outcome::Ended;
            if (ready == 0) {
                if (reaped_)
                    return Outcome::Ended;
                // Quiet: has the child ended? (A process forked meanwhile by another
                // thread may hold the pipe's write end, so the end of data alone may
                // come late.)
                reapIfEnded();
                continue;
            }
            const ssize_t n = ::read(fd_, out + got, size - got);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0)
                return Outcome::Ended;
            got += std::size_t(n);
        }
        return Outcome::Complete;
    }

    /// Waits for the child to exit (until the deadline; then it is killed) and
    /// returns its wait status; `timedOut` tells which.
    int finish(bool& timedOut)
    {
        timedOut = false;
        while (!reaped_) {
            if (Clock::now() >= deadline_) {
                timedOut = true;
                ::kill(pid_, SIGKILL);
                while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
                }
                reaped_ = true;
                break;
            }
            if (!reapIfEnded())
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return status_;
    }

private:
    bool reapIfEnded()
    {
        const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            // ECHILD: someone else reaped it; its status is unknown, call it a crash.
            if (r < 0)
                status_ = 0x7f00; // "exited with 127"
            reaped_ = true;
        }
        return reaped_;
    }

    pid_t pid_;
    int fd_;
    Clock::time_point deadline_;
    bool reaped_ = false;
    int status_ = 0;
};

} // namespace

void readMatVariableForParent(const char* path, const char* variable, int replyFd)
{
    // The child exits right after: nothing here is closed or freed.
    mat_t* mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat)
        return sendReply(replyFd, ChildStatus::OpenFailed);
    // Its class and dimensions first: no data is read for a shape the parent refuses.
    const matvar_t* info = Mat_VarReadInfo(mat, variable);
    if (!info)
        return sendReply(replyFd, ChildStatus::Missing);
    MatArrayShape shape = matArrayShapeOf(info);
    try {
        checkMatArrayShape(shape, std::string());
    } catch (const Error&) {
        return sendReply(replyFd, ChildStatus::ShapeRefused, shape);
    }
    const matvar_t* var = Mat_VarRead(mat, variable);
    if (!var || !var->data)
        return sendReply(replyFd, ChildStatus::Missing);
    shape = matArrayShapeOf(var);
    try {
        checkMatArrayShape(shape, std::string());
    } catch (const Error&) {
        return sendReply(replyFd, ChildStatus::ShapeRefused, shape);
    }
    const std::uint64_t bytes = valueBytesOf(shape);
    if (var->nbytes < bytes)
        return sendReply(replyFd, ChildStatus::Missing);
    sendReply(replyFd, ChildStatus::Values, shape, bytes);
    writeAll(replyFd, var->data, std::size_t(bytes));
}

cv::Mat readMat73Variable(const std::string& path, const std::string& variable,
                          MatChildBody body, double timeoutSeconds)
{
    const std::string file = "'" + path + "'";
    const std::string where = file + ", variable '" + variable + "'";
    const std::string corrupt = file + ": MAT 7.3 (HDF5) file is corrupt: ";
    // One reader child at a time per process: a dataset loaded by a pool of threads
    // must not hold several children of up to the budget's largest variable each.
    // It also keeps our other readers off the allocator while one forks, which the
    // sanitizers' allocator of Clang 14 needs (it takes no lock around fork()).
    static std::mutex oneChildAtATime;
    const std::lock_guard<std::mutex> lock(oneChildAtATime);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw Error(file + ": cannot read this MAT 7.3 (HDF5) file: no pipe to its reader "
                           "process (" + std::strerror(errno) + ")");
    const rlim_t addressLimit = childAddressLimit();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int error = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw Error(file + ": cannot read this MAT 7.3 (HDF5) file: its reader process did "
                           "not start (" + std::strerror(error) + ")");
    }
    if (pid == 0) {
        ::close(fds[0]);
        runChild(body, path.c_str(), variable.c_str(), fds[1], addressLimit);
    }
    ::close(fds[1]);
    ReaderChild child(pid, fds[0], timeoutSeconds);

    auto timedOut = [&] {
        return Error(file + ": MAT 7.3 (HDF5) file is corrupt or too slow to read: the HDF5 "
                            "library did not finish reading it within the time allowed (" +
                     std::to_string(int(timeoutSeconds)) +
                     " s and 1 s per 32 MB of the variable); it was stopped");
    };
    // The child ended before its reply was complete: a crash, or garbage.
    auto endedEarly = [&](const char* what) {
        bool late = false;
        const int status = child.finish(late);
        if (late)
            return timedOut();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return Error(file + ": cannot read this MAT 7.3 (HDF5) file: its reader process "
                                "sent a malformed reply (" + what + ")");
        return Error(corrupt + "the HDF5 library crashed reading it (" + describeEnd(status) +
                     ")");
    };

    Reply reply;
    switch (child.read(&reply, sizeof reply)) {
    case ReaderChild::Outcome::TimedOut:
        throw timedOut();
    case ReaderChild::Outcome::Ended:
        throw endedEarly("no complete reply");
    case ReaderChild::Outcome::Complete:
        break;
    }
    if (reply.magic != kReplyMagic)
        throw endedEarly("not a reply");
    switch (ChildStatus(reply.status)) {
    case ChildStatus::OpenFailed:
        throw Error(file + ": not a MATLAB .mat file, or the file is corrupt (HDF5 cannot "
                           "open it)");
    case ChildStatus::Missing:
        throw Error(where + ": missing or unreadable");
    case ChildStatus::ShapeRefused:
        checkMatArrayShape(reply.shape, where);
        throw endedEarly("a refusal of an acceptable shape");
    case ChildStatus::Values:
        break;
    default:
        throw endedEarly("an unknown status");
    }
    checkMatArrayShape(reply.shape, where);
    const std::uint64_t bytes = valueBytesOf(reply.shape);
    if (reply.valueBytes != bytes)
        throw endedEarly("the size of the values does not match their shape");
    child.extendDeadline(double(bytes) / double(32u << 20));
    std::vector<unsigned char> values(bytes);
    switch (child.read(values.data(), values.size())) {
    case ReaderChild::Outcome::TimedOut:
        throw timedOut();
    case ReaderChild::Outcome::Ended:
        throw endedEarly("fewer values than announced");
    case ReaderChild::Outcome::Complete:
        break;
    }
    bool late = false;
    const int status = child.finish(late);
    if (late)
        throw timedOut();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error(corrupt + "the HDF5 library crashed reading it (" + describeEnd(status) + ")");
    return matArrayToMat(reply.shape, values.data());
}

} // namespace primaps
