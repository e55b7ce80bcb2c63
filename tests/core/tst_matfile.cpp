// SPDX-License-Identifier: MIT
// readMatVariable() on MATLAB 5 files built here byte by byte (every size field can be
// made hostile) and written by matio: the structural check (dataset/matfilecheck.h)
// refuses what would make matio allocate more than the file backs, valid files read.
#include "dataset/dataset.h"
#include "dataset/matfilecheck.h"
#include "dataset/matsandbox.h"
#include "image/imageio.h"
#include "matfixture.h"
#include "support/error.h"
#include "testsupport.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

using namespace primaps;
using primaps::testing::errorOf;
namespace fs = std::filesystem;

namespace {

// The MAT 5 format written field by field, in either byte order.
class MatBytes
{
public:
    explicit MatBytes(bool bigEndian = false) : big_(bigEndian) {}

    std::string u32(std::uint32_t v) const
    {
        std::string out(4, '\0');
        for (int i = 0; i < 4; ++i)
            out[std::size_t(big_ ? 3 - i : i)] = char((v >> (8 * i)) & 0xff);
        return out;
    }
    std::string header(std::uint16_t version = 0x0100) const
    {
        std::string text = "MATLAB 5.0 MAT-file, written by tst_matfile";
        text.resize(116, ' ');
        text += std::string(8, '\0');
        const std::string v = u32(version);
        text += big_ ? v.substr(2) : v.substr(0, 2);
        return text + (big_ ? "MI" : "IM");
    }
    std::string tag(std::uint32_t type, std::uint32_t bytes) const
    {
        return u32(type) + u32(bytes);
    }
    // A tag and its data, padded to 8 bytes.
    std::string element(std::uint32_t type, const std::string& data) const
    {
        std::string out = tag(type, std::uint32_t(data.size())) + data;
        out.resize((out.size() + 7) / 8 * 8, '\0');
        return out;
    }
    std::string dims(const std::vector<std::int32_t>& d) const
    {
        std::string data;
        for (std::int32_t v : d)
            data += u32(std::uint32_t(v));
        return element(miINT32, data);
    }
    // Flags, dimensions and the name (small format up to 4 characters, as MATLAB does).
    std::string arrayHead(std::uint32_t cls, const std::vector<std::int32_t>& d,
                          const std::string& name) const
    {
        std::string name8 = name.size() <= 4 ? u32(std::uint32_t(name.size()) << 16 | miINT8) + name
                                             : element(miINT8, name);
        name8.resize((name8.size() + 7) / 8 * 8, '\0');
        return element(miUINT32, u32(cls) + u32(0)) + dims(d) + name8;
    }
    // A uint8 array; `values` is its data part (column-major), whatever dims say.
    std::string uint8Array(const std::string& name, const std::vector<std::int32_t>& d,
                           const std::string& values) const
    {
        return element(miMATRIX, arrayHead(mxUINT8, d, name) + element(miUINT8, values));
    }
    // A top-level element as a compressed variable (miCOMPRESSED, zlib).
    std::string compressed(const std::string& element) const
    {
        uLongf size = compressBound(uLong(element.size()));
        std::string z(size, '\0');
        compress2(reinterpret_cast<Bytef*>(z.data()), &size,
                  reinterpret_cast<const Bytef*>(element.data()), uLong(element.size()), 9);
        z.resize(size);
        return tag(15, std::uint32_t(z.size())) + z;
    }

private:
    bool big_;
};

std::string readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Bodies for the MAT 7.3 reader's child: what the parent must survive.
void crashingChild(const char*, const char*, int)
{
    std::raise(SIGSEGV);
}
void abortingChild(const char*, const char*, int)
{
    std::abort();
}
void hangingChild(const char*, const char*, int)
{
    std::this_thread::sleep_for(std::chrono::seconds(60));
}
void garbageChild(const char*, const char*, int fd)
{
    const char text[] = "not a reply, just some text that is long enough for one";
    (void)!::write(fd, text, sizeof text);
}
void silentChild(const char*, const char*, int) {}
// A reply that announces 2 x 2 doubles, then only one of them: the real body's
// header (from a real file), cut.
void shortValuesChild(const char* path, const char* variable, int fd)
{
    int inner[2];
    if (::pipe(inner) != 0)
        _exit(3);
    readMatVariableForParent(path, variable, inner[1]);
    ::close(inner[1]);
    char buffer[4096];
    const ssize_t n = ::read(inner[0], buffer, sizeof buffer);
    if (n > 8)
        (void)!::write(fd, buffer, std::size_t(n - 8));
}

// The pixel budget of the process, restored at the end of a test.
struct BudgetScope
{
    PixelBudget saved = pixelBudget();
    explicit BudgetScope(std::int64_t maxPixels)
    {
        PixelBudget b = saved;
        b.maxPixels = maxPixels;
        setPixelBudget(b);
    }
    ~BudgetScope() { setPixelBudget(saved); }
};

} // namespace

class TestMatFile : public QObject
{
    Q_OBJECT

    QTemporaryDir dir_;

    std::string write(const std::string& name, const std::string& bytes)
    {
        const std::string path = (fs::path(dir_.path().toStdString()) / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }

    // The file of the fuzz finding (fuzz/regressions/mat/), generated: a compressed
    // variable whose dimensions tag claims 1768528156 bytes (442 M dimensions) in an
    // array of 136. matio allocated ~7 GB for them before reading one.
    std::string hugeDimensionsFile()
    {
        const MatBytes m;
        const std::string array = m.element(miUINT32, m.u32(mxUINT8) + m.u32(0)) +
                                  m.tag(miINT32, 1768528156) + std::string(112, 'i');
        return write("huge-dims.mat", m.header() + m.compressed(m.tag(miMATRIX, 136) + array));
    }

private slots:
    void validFilesRead_data()
    {
        QTest::addColumn<bool>("big");
        QTest::addColumn<bool>("compress");
        QTest::newRow("little-endian") << false << false;
        QTest::newRow("big-endian") << true << false;
        QTest::newRow("compressed, little-endian") << false << true;
        QTest::newRow("compressed, big-endian") << true << true;
    }
    void validFilesRead()
    {
        QFETCH(bool, big);
        QFETCH(bool, compress);
        const MatBytes m(big);
        // 2 x 3 x 3, column-major: value = 10 c + 2 x + y; another variable first.
        std::string values;
        for (int c = 0; c < 3; ++c)
            for (int x = 0; x < 3; ++x)
                for (int y = 0; y < 2; ++y)
                    values += char(10 * c + 2 * x + y);
        std::string vars =
            m.uint8Array("other", {1, 4}, "abcd") + m.uint8Array("img", {2, 3, 3}, values);
        if (compress)
            vars = m.compressed(m.uint8Array("other", {1, 4}, "abcd")) +
                   m.compressed(m.uint8Array("img", {2, 3, 3}, values));
        const cv::Mat img = readMatVariable(write("valid.mat", m.header() + vars), "img");
        QCOMPARE(img.type(), CV_8UC3);
        QCOMPARE(img.size(), cv::Size(3, 2));
        QCOMPARE(img.at<cv::Vec3b>(1, 2), cv::Vec3b(5, 15, 25));
    }

    void matioFilesRead()
    {
        for (matio_compression c : {MAT_COMPRESSION_NONE, MAT_COMPRESSION_ZLIB}) {
            const fs::path path = fs::path(dir_.path().toStdString()) / "matio.mat";
            writeMat<double>(path, "gt", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 2}, {1, 2, 3, 4}, c);
            const cv::Mat gt = readMatVariable(path.string(), "gt");
            QCOMPARE(gt.type(), CV_64FC1);
            QCOMPARE(gt.at<double>(0, 1), 3.0); // column-major
        }
    }

    void fuzzFindingRefusedBeforeMatio()
    {
        const std::string path = hugeDimensionsFile();
        QCOMPARE(errorOf([&] { readMatVariable(path, "img"); }),
                 "'" + path +
                     "': the variable at byte 128: dimensions: 1768528156 bytes declared, "
                     "more than the 112 left in the array");
        // No memory for the claim: in a child limited to 512 MB more address space
        // than it has, the refusal comes the same (matio's calloc of ~7 GB would fail
        // or, under AddressSanitizer, abort the child).
        QVERIFY(testing::holdsWithLittleMemory([&] {
            return errorOf([&] { readMatVariable(path, "img"); })
                       .find("1768528156 bytes declared") != std::string::npos;
        }));
    }

    void hostileFilesRefused_data()
    {
        QTest::addColumn<std::string>("bytes");
        QTest::addColumn<std::string>("message"); // what follows "'<path>': "
        const MatBytes m;
        const std::string h = m.header();
        auto row = [](const char* name, const std::string& bytes, const std::string& message) {
            QTest::newRow(name) << bytes << message;
        };
        row("not version 1 or 2", m.header(0x0300) + m.uint8Array("img", {1, 1}, "a"),
            "not a MATLAB 5 or 7.3 .mat file (MATLAB 4 files "
            "are not read)");
        row("element beyond the file", h + m.tag(miMATRIX, 1000000) + std::string(40, '\0'),
            "the variable at byte 128 declares 1000000 bytes, but only 40 follow");
        row("not a variable", h + m.element(9, std::string(8, '\0')),
            "the variable at byte 128: data type 9, not a variable (an array or a compressed "
            "array)");
        row("negative dimension", h + m.uint8Array("img", {-1, 2}, "ab"),
            "the variable at byte 128: a dimension is negative (-1)");
        row("more values than bytes", h + m.uint8Array("img", {100000, 100000}, "ab"),
            "the variable at byte 128: its dimensions declare more values than the array's 56 "
            "bytes hold");
        row("data shorter than the dimensions", h + m.uint8Array("img", {2, 3}, "abcd"),
            "the variable at byte 128: array 'img': its dimensions declare 6 values, but its "
            "data holds 4");
        row("data part beyond the array",
            h + m.element(miMATRIX, m.arrayHead(mxUINT8, {2, 3}, "img") + m.tag(miUINT8, 4096)),
            "the variable at byte 128: array 'img': real part: 4096 bytes declared, more than "
            "the 0 left in the array");
        row("cells beyond the array",
            h + m.element(miMATRIX, m.arrayHead(mxCELL, {6, 6}, "c") + std::string(40, '\0')),
            "the variable at byte 128: array 'c': it declares 36 cells or fields, more than "
            "its 40 bytes hold");
        row("an object", h + m.element(miMATRIX, m.arrayHead(mxOBJECT, {1, 1}, "o")),
            "the variable at byte 128: an array of class 3 (a MATLAB object, function handle "
            "or unknown class), which is not read");
        std::string nested = m.uint8Array("x", {1, 1}, "a");
        for (int level = 0; level < 40; ++level)
            nested = m.element(miMATRIX, m.arrayHead(mxCELL, {1, 1}, "") + nested);
        std::string deep = "the variable at byte 128: ";
        for (int level = 0; level < 33; ++level)
            deep += "an unnamed array: ";
        row("nested 40 deep", h + nested, deep + "arrays nest deeper than 32 levels");
        // A consistent 64 KB variable whose compressed data stops half-way.
        std::string noise(65536, '\0');
        std::uint32_t state = 12345;
        for (char& c : noise)
            c = char((state = state * 1664525u + 1013904223u) >> 24);
        const std::string whole = m.compressed(m.uint8Array("img", {256, 256}, noise));
        std::string cut = whole.substr(8, (whole.size() - 8) / 2);
        row("compressed data cut", h + m.tag(15, std::uint32_t(cut.size())) + cut,
            "the variable at byte 128: array 'img': a compressed variable inflates to fewer "
            "bytes than it declares");
        std::string corrupt = whole;
        corrupt[9] = char(0xff); // the zlib header's second byte: its check fails
        row("compressed data corrupt", h + corrupt,
            "the variable at byte 128: a compressed variable's data is corrupt (zlib: incorrect "
            "header check)");
    }
    void hostileFilesRefused()
    {
        QFETCH(std::string, bytes);
        QFETCH(std::string, message);
        const std::string path = write("hostile.mat", bytes);
        QCOMPARE(errorOf([&] { readMatVariable(path, "img"); }), "'" + path + "': " + message);
    }

    void compressedBeyondTheBudgetRefused()
    {
        // 10000 pixels: 4 x 8 bytes each and 1 MiB, 1368576 bytes inflate at most;
        // this variable inflates to 1.5 MB from ~1.5 KB of zeros.
        const BudgetScope budget(10000);
        const MatBytes m;
        const std::string path =
            write("bomb.mat", m.header() + m.compressed(m.uint8Array("img", {1000, 1500},
                                                                     std::string(1500000, '\0'))));
        QCOMPARE(errorOf([&] { readMatVariable(path, "img"); }),
                 "'" + path +
                     "': the variable at byte 128: array 'img': the file's compressed "
                     "variables inflate to more than 1368576 bytes, the most an image of "
                     "the pixel budget (10000 pixels) takes in 4 channels of 8-byte values, "
                     "and 1 MiB; raise the pixel budget to accept it");
    }

    // ---- MAT 7.3: HDF5 files, read in a child process (dataset/matsandbox.h) ----

    std::string mat73(const std::string& name)
    {
        const std::string path = (fs::path(dir_.path().toStdString()) / name).string();
        fs::remove(path);
        mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT73);
        if (!mat)
            return {};
        std::vector<std::uint8_t> img(2 * 3 * 3);
        for (std::size_t i = 0; i < img.size(); ++i)
            img[i] = std::uint8_t(i); // column-major: (y, x, c) = y + 2 x + 6 c
        std::vector<double> gt = {1, 2, 3, 4};
        std::size_t imgDims[3] = {2, 3, 3}, gtDims[2] = {2, 2};
        matvar_t* a = Mat_VarCreate("img", MAT_C_UINT8, MAT_T_UINT8, 3, imgDims, img.data(), 0);
        matvar_t* b = Mat_VarCreate("gt", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, gtDims, gt.data(), 0);
        const bool ok = a && b && Mat_VarWrite(mat, a, MAT_COMPRESSION_NONE) == 0 &&
                        Mat_VarWrite(mat, b, MAT_COMPRESSION_NONE) == 0;
        Mat_VarFree(a);
        Mat_VarFree(b);
        Mat_Close(mat);
        return ok ? path : std::string();
    }

    void mat73FilesRead()
    {
        const std::string path = mat73("v73.mat");
        if (path.empty())
            QSKIP("this matio has no MAT 7.3 (HDF5) support");
        const cv::Mat img = readMatVariable(path, "img");
        QCOMPARE(img.type(), CV_8UC3);
        QCOMPARE(img.size(), cv::Size(3, 2));
        QCOMPARE(img.at<cv::Vec3b>(1, 2), cv::Vec3b(5, 11, 17));
        const cv::Mat gt = readMatVariable(path, "gt");
        QCOMPARE(gt.type(), CV_64FC1);
        QCOMPARE(gt.at<double>(0, 1), 3.0);
        QCOMPARE(errorOf([&] { readMatVariable(path, "nope"); }),
                 "'" + path + "', variable 'nope': missing or unreadable");
        // Reads from several threads at once (their children take turns).
        std::vector<std::thread> threads;
        std::atomic<int> good{0};
        for (int i = 0; i < 4; ++i)
            threads.emplace_back([&] {
                if (readMatVariable(path, "img").at<cv::Vec3b>(1, 2) == cv::Vec3b(5, 11, 17))
                    ++good;
            });
        for (std::thread& t : threads)
            t.join();
        QCOMPARE(good.load(), 4);
    }

    void mat73VariableBeyondThePixelBudgetRefused()
    {
        const std::string path = mat73("v73-budget.mat");
        if (path.empty())
            QSKIP("this matio has no MAT 7.3 (HDF5) support");
        const BudgetScope budget(5);
        const std::string error = errorOf([&] { readMatVariable(path, "img"); });
        QVERIFY2(error.rfind("'" + path + "', variable 'img': 3x2 pixels", 0) == 0, error.c_str());
        QVERIFY2(error.find("more than the pixel budget") != std::string::npos, error.c_str());
    }

    // The fuzz finding: libhdf5 dereferenced a null pointer inside Mat_Open. Now the
    // child dies, the test process reports it, and the file is untouched.
    void mat73FileCrashingHdf5IsAnError()
    {
        const std::string kept =
            PRIMAPS_SOURCE_DIR "/fuzz/regressions/mat/v73-hdf5-crashes-in-mat-open.mat";
        const std::string path = write("crash.mat", readAll(kept));
        for (const char* variable : {"img", "gt"})
            QCOMPARE(errorOf([&] { readMatVariable(path, variable); }),
                     "'" + path +
                         "': MAT 7.3 (HDF5) file is corrupt: the HDF5 library crashed reading "
                         "it (killed by SIGSEGV, a segmentation fault)");
        QCOMPARE(readAll(path), readAll(kept));
    }

    void mat73ChildFailuresAreErrors_data()
    {
        QTest::addColumn<void*>("body");
        QTest::addColumn<std::string>("message"); // what follows "'<path>': "
        auto row = [](const char* name, MatChildBody body, const std::string& message) {
            QTest::newRow(name) << reinterpret_cast<void*>(body) << message;
        };
        const std::string crashed =
            "MAT 7.3 (HDF5) file is corrupt: the HDF5 library crashed reading it (";
        row("segmentation fault", crashingChild, crashed + "killed by SIGSEGV, a segmentation fault)");
        row("abort", abortingChild, crashed + "killed by SIGABRT, an abort)");
        row("garbage", garbageChild,
            "cannot read this MAT 7.3 (HDF5) file: its reader process sent a malformed reply "
            "(not a reply)");
        row("no reply", silentChild,
            "cannot read this MAT 7.3 (HDF5) file: its reader process sent a malformed reply "
            "(no complete reply)");
        row("values cut", shortValuesChild,
            "cannot read this MAT 7.3 (HDF5) file: its reader process sent a malformed reply "
            "(fewer values than announced)");
    }
    void mat73ChildFailuresAreErrors()
    {
        QFETCH(void*, body);
        QFETCH(std::string, message);
        const std::string path = mat73("v73-child.mat");
        if (path.empty())
            QSKIP("this matio has no MAT 7.3 (HDF5) support");
        QCOMPARE(errorOf([&] {
                     readMat73Variable(path, "gt", reinterpret_cast<MatChildBody>(body));
                 }),
                 "'" + path + "': " + message);
    }

    void mat73ChildThatHangsIsStopped()
    {
        const std::string path = write("v73-hang.mat", "stands in for a MAT 7.3 file");
        const auto start = std::chrono::steady_clock::now();
        QCOMPARE(errorOf([&] { readMat73Variable(path, "img", hangingChild, 1.0); }),
                 "'" + path +
                     "': MAT 7.3 (HDF5) file is corrupt or too slow to read: the HDF5 library "
                     "did not finish reading it within the time allowed (1 s and 1 s per 32 MB "
                     "of the variable); it was stopped");
        // Stopped at its deadline, not after the child's 60 s.
        QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    }

    void variableBeyondThePixelBudgetRefusedBeforeItsData()
    {
        const BudgetScope budget(5000);
        const MatBytes m;
        const std::string path =
            write("big.mat", m.header() + m.uint8Array("img", {100, 100}, std::string(10000, 'a')));
        const std::string error = errorOf([&] { readMatVariable(path, "img"); });
        QVERIFY2(error.rfind("'" + path + "', variable 'img': 100x100 pixels", 0) == 0,
                 error.c_str());
        QVERIFY2(error.find("more than the pixel budget") != std::string::npos, error.c_str());
    }
};

QTEST_GUILESS_MAIN(TestMatFile)
#include "tst_matfile.moc"
