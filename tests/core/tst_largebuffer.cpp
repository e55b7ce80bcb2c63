// SPDX-License-Identifier: MIT
// LargeVector: the dense CRF's multi-megabyte buffers start on 2 MB boundaries,
// are reused after release by the next buffer of their size and, when asked
// (Linux, transparent huge pages available), are advised to the kernel as
// huge-page candidates; below 2 MB it behaves as a plain vector.
#include "support/largebuffer.h"

#include <QtTest>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace {

// The "THPeligible" field of the /proc/self/smaps mapping holding `address`,
// or -1 when it cannot be read.
int hugePageEligible(const void* address)
{
    std::ifstream smaps("/proc/self/smaps");
    const auto at = reinterpret_cast<std::uintptr_t>(address);
    std::string line;
    bool inside = false;
    while (std::getline(smaps, line)) {
        std::uintptr_t begin = 0, end = 0;
        char dash = 0;
        std::istringstream header(line);
        if (header >> std::hex >> begin >> dash >> end && dash == '-' &&
            line.find(':') > line.find(' ')) {
            inside = begin <= at && at < end;
            continue;
        }
        if (inside && line.rfind("THPeligible:", 0) == 0)
            return std::stoi(line.substr(12));
    }
    return -1;
}

bool transparentHugePagesOnRequest()
{
    std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string text;
    std::getline(mode, text);
    return text.find("[always]") != std::string::npos ||
           text.find("[madvise]") != std::string::npos;
}

} // namespace

class TestLargeBuffer : public QObject
{
    Q_OBJECT

private slots:
    void largeBuffersStartOnTwoMegabyteBoundaries()
    {
        primaps::LargeVector<float> large(std::size_t(3) << 20);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(large.data()) % primaps::detail::kLargeBufferBytes,
                 std::uintptr_t(0));
        primaps::LargeVector<std::int32_t> small(1000, 7);
        QCOMPARE(small[999], 7);
    }

    void contentsSurviveGrowthCopiesAndMoves()
    {
        primaps::LargeVector<std::int32_t> v;
        // Across the threshold: the storage moves from a plain to a large buffer.
        for (std::int32_t i = 0; i < (1 << 20); ++i)
            v.push_back(i * 3);
        QCOMPARE(v.size(), std::size_t(1) << 20);
        QCOMPARE(v[12345], 12345 * 3);
        const primaps::LargeVector<std::int32_t> copy = v;
        QVERIFY(copy == v);
        primaps::LargeVector<std::int32_t> moved = std::move(v);
        QCOMPARE(moved.back(), ((1 << 20) - 1) * 3);
        moved.resize(10);
        moved.shrink_to_fit();
        QCOMPARE(moved[9], 27);
    }

    void releasedBuffersServeTheNextOfTheirSize()
    {
        const void* first = nullptr;
        {
            primaps::LargeVector<float> a(std::size_t(5) << 20, 2.0f);
            first = a.data();
        }
        // 20 MB + 4 bytes and 20 MB fall in the same class of whole 2 MB pages.
        primaps::LargeVector<float> b((std::size_t(5) << 20) - 1, 3.0f);
        QCOMPARE(static_cast<const void*>(b.data()), first);
        QCOMPARE(b.back(), 3.0f);
        // Another size class gets other memory.
        primaps::LargeVector<float> c(std::size_t(7) << 20, 4.0f);
        QVERIFY(static_cast<const void*>(c.data()) != first);
    }

    void largeBuffersBecomeHugePageCandidatesOnRequest()
    {
#if !defined(__linux__)
        QSKIP("transparent huge pages are a Linux feature");
#else
        if (!transparentHugePagesOnRequest())
            QSKIP("transparent huge pages are off on this system");
        QVERIFY(!primaps::detail::largeBufferHugePages()); // the default
        primaps::detail::setLargeBufferHugePages(true);
        int eligible = -1;
        {
            primaps::LargeVector<float> large(std::size_t(4) << 20, 1.0f);
            eligible = hugePageEligible(large.data());
        }
        primaps::detail::setLargeBufferHugePages(false);
        if (eligible < 0)
            QSKIP("/proc/self/smaps has no THPeligible field here");
        QCOMPARE(eligible, 1);
#endif
    }
};

QTEST_APPLESS_MAIN(TestLargeBuffer)
#include "tst_largebuffer.moc"
