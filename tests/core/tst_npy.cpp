// SPDX-License-Identifier: MIT
// The .npy reader and writer: dtypes, memory orders, and every way a file can be bad.
#include "support/atomicfile.h"
#include "support/error.h"
#include "support/npy.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

using namespace primaps;

namespace {

// Builds an .npy file by hand, independently of writeNpy(), so the reader is
// tested against the format rather than against our own writer.
std::string npyBytes(const std::string& descr, bool fortran, const std::string& shape,
                     const std::string& payload, int version = 1)
{
    std::string header = "{'descr': '" + descr + "', 'fortran_order': " +
                         (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
    const std::size_t prefix = version == 1 ? 10 : 12;
    while ((prefix + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += char(version);
    out += char(0);
    const std::uint32_t len = std::uint32_t(header.size());
    out += char(len & 0xff);
    out += char((len >> 8) & 0xff);
    if (version != 1) {
        out += char((len >> 16) & 0xff);
        out += char((len >> 24) & 0xff);
    }
    return out + header + payload;
}

template <typename T> std::string raw(const std::vector<T>& v)
{
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

} // namespace

class TestNpy : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string file(const char* name) { return dir.filePath(name).toStdString(); }

private slots:
    void readsFloat32COrder()
    {
        // 2 x 2 x 3, values 0..11 in C order.
        std::vector<float> v(12);
        for (int i = 0; i < 12; ++i)
            v[std::size_t(i)] = float(i);
        writeFileAtomic(file("c.npy"), npyBytes("<f4", false, "(2, 2, 3)", raw(v)));
        const FeatureMap f = readFeaturesNpy(file("c.npy"));
        QCOMPARE(f.channels, 2);
        QCOMPARE(f.height, 2);
        QCOMPARE(f.width, 3);
        QCOMPARE(f.at(1, 0, 2), 8.0f);
        QCOMPARE(f.at(0, 1, 0), 3.0f);
    }

    void readsFloat64FortranOrder()
    {
        // The same logical array stored column-major as float64: element (c, y, x)
        // sits at c + 2*y + 4*x.
        std::vector<double> v(12);
        for (int c = 0; c < 2; ++c)
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 3; ++x)
                    v[std::size_t(c + 2 * y + 4 * x)] = c * 6 + y * 3 + x;
        writeFileAtomic(file("f.npy"), npyBytes("<f8", true, "(2, 2, 3)", raw(v)));
        const FeatureMap f = readFeaturesNpy(file("f.npy"));
        for (int c = 0; c < 2; ++c)
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 3; ++x)
                    QCOMPARE(f.at(c, y, x), float(c * 6 + y * 3 + x));
    }

    void readsVersion2AndBatchDimension()
    {
        std::vector<float> v = {1, 2, 3, 4};
        writeFileAtomic(file("v2.npy"), npyBytes("<f4", false, "(1, 1, 2, 2)", raw(v), 2));
        const FeatureMap f = readFeaturesNpy(file("v2.npy"));
        QCOMPARE(f.channels, 1);
        QCOMPARE(f.at(0, 1, 1), 4.0f);
    }

    void readsUint8Labels()
    {
        std::vector<std::uint8_t> v = {0, 255, 7, 3};
        writeFileAtomic(file("u8.npy"), npyBytes("|u1", false, "(2, 2)", raw(v)));
        const NpyArray a = readNpy(file("u8.npy"));
        QCOMPARE(a.toUint8(), v);
        QVERIFY_THROWS_EXCEPTION(Error, readFeaturesNpy(file("u8.npy"))); // not float
    }

    void roundTripsThroughWriter()
    {
        FeatureMap f(3, 4, 5);
        for (std::size_t i = 0; i < f.values.size(); ++i)
            f.values[i] = float(i) * 0.5f - 3.0f;
        writeFeaturesNpy(file("rt.npy"), f);
        const FeatureMap g = readFeaturesNpy(file("rt.npy"));
        QCOMPARE(g.values, f.values);
    }

    void rejectsWrongDtypeWithClearMessage()
    {
        std::vector<std::int32_t> v(8, 1);
        writeFileAtomic(file("int.npy"), npyBytes("<i4", false, "(2, 2, 2)", raw(v)));
        try {
            readFeaturesNpy(file("int.npy"));
            QFAIL("int32 features were accepted");
        } catch (const Error& e) {
            const QString msg = e.what();
            QVERIFY2(msg.contains("int.npy") && msg.contains("float32"), qPrintable(msg));
        }
        writeFileAtomic(file("complex.npy"), npyBytes("<c8", false, "(2,)", std::string(16, '\0')));
        QVERIFY_THROWS_EXCEPTION(Error, readNpy(file("complex.npy")));
    }

    void rejectsTruncatedAndMalformedFiles()
    {
        std::vector<float> v(12, 1.0f);
        const std::string good = npyBytes("<f4", false, "(2, 2, 3)", raw(v));
        writeFileAtomic(file("trunc.npy"), good.substr(0, good.size() - 5));
        try {
            readFeaturesNpy(file("trunc.npy"));
            QFAIL("truncated file accepted");
        } catch (const Error& e) {
            const QString msg = e.what();
            QVERIFY2(msg.contains("trunc.npy") && msg.contains("truncated"), qPrintable(msg));
        }
        // Truncated inside the header, at every length.
        for (std::size_t len = 0; len < 70; len += 3) {
            writeFileAtomic(file("short.npy"), good.substr(0, len));
            QVERIFY_THROWS_EXCEPTION(Error, readNpy(file("short.npy")));
        }
        writeFileAtomic(file("magic.npy"), "PK\x03\x04 this is a zip, not npy");
        QVERIFY_THROWS_EXCEPTION(Error, readNpy(file("magic.npy")));
        writeFileAtomic(file("rank.npy"), npyBytes("<f4", false, "(12,)", raw(v)));
        QVERIFY_THROWS_EXCEPTION(Error, readFeaturesNpy(file("rank.npy")));
        std::vector<float> bad = {1, std::nanf(""), 3, 4};
        writeFileAtomic(file("nan.npy"), npyBytes("<f4", false, "(1, 2, 2)", raw(bad)));
        QVERIFY_THROWS_EXCEPTION(Error, readFeaturesNpy(file("nan.npy")));
        QVERIFY_THROWS_EXCEPTION(Error, readNpy(file("missing.npy")));
    }
};

QTEST_APPLESS_MAIN(TestNpy)
#include "tst_npy.moc"
