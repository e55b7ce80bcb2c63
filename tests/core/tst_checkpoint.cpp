// SPDX-License-Identifier: MIT
// The restricted checkpoint reader: real torch.save files (tests/data/checkpoint, made by
// make_fixtures.py), hand-made archives for every way a file can be bad, and byte flips.
#include "backbones/checkpoint.h"
#include "support/error.h"

#include <algorithm>
#include <caffe2/serialize/inline_container.h>
#include <cstdint>
#include <fstream>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <string>
#include <vector>
#include "testsupport.h" // last: Qt's `slots` macro breaks LibTorch headers

using namespace primaps;

namespace {

const std::string kData = PRIMAPS_TEST_DATA_DIR "/checkpoint/";

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// Writes a torch.save-style archive: `pickle` as data.pkl plus the given records.
void writeArchive(const std::string& path, const std::string& pickle,
                  const std::vector<std::pair<std::string, std::string>>& records = {})
{
    caffe2::serialize::PyTorchStreamWriter writer(path);
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const auto& [name, bytes] : records)
        writer.writeRecord(name, bytes.data(), bytes.size());
    writer.writeEndOfFile();
}

// ---- a tiny pickle writer for hand-made cases (protocol 2, as torch.save) ----

std::string le32(std::uint32_t v)
{
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i)
        s[std::size_t(i)] = char((v >> (8 * i)) & 0xff);
    return s;
}
std::string str(const std::string& s)
{
    return "X" + le32(std::uint32_t(s.size())) + s;
}
std::string int32(std::int32_t v)
{
    return "J" + le32(std::uint32_t(v));
}
std::string ints(const std::vector<int>& values)
{
    std::string s = "(";
    for (int v : values)
        s += int32(v);
    return s + "t";
}

std::string tensorPickle(const std::string& storageType, const std::string& key, int numel,
                         int offset, const std::vector<int>& size, const std::vector<int>& stride)
{
    return "ctorch._utils\n_rebuild_tensor_v2\n(" + // func, MARK
           ("(" + str("storage") + "ctorch\n" + storageType + "\n" + str(key) + str("cpu") +
            int32(numel) + "tQ") + // storage
           int32(offset) +
           ints(size) + ints(stride) + "\x89" + // requires_grad
           "ccollections\nOrderedDict\n)R" +    // hooks
           "tR";
}

std::string stateDictPickle(const std::vector<std::pair<std::string, std::string>>& entries)
{
    std::string p = "\x80\x02}(";
    for (const auto& [name, value] : entries)
        p += str(name) + value;
    return p + "u.";
}

std::string floats(const std::vector<float>& v)
{
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

void expectValues(const StateDict& sd, const std::string& name, const std::vector<float>& expected)
{
    const std::vector<float> got = sd.values(name);
    QCOMPARE(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        QCOMPARE(got[i], expected[i]);
}

} // namespace

class TestCheckpoint : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string file(const char* name) { return dir.filePath(name).toStdString(); }

private slots:
    // ---- real torch.save files ----

    void readsOrderedDictWithMetadata()
    {
        const StateDict sd = readStateDict(kData + "ordered.pth");
        const std::vector<std::string> expected = {
            "fc.weight",       "fc.bias",        "norm.weight",
            "norm.bias",       "bn.weight",      "bn.bias",
            "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
        QCOMPARE(sd.names(), expected);
        QCOMPARE(sd.section(), std::string());
        QVERIFY(sd.strippedPrefixes().empty());
        QCOMPARE(sd.info("fc.weight").shape, (std::vector<std::int64_t>{2, 3}));
        QCOMPARE(sd.info("fc.weight").type, TensorType::Float32);
        expectValues(sd, "fc.weight", {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f});
        expectValues(sd, "fc.bias", {0.25f, -0.75f});
        expectValues(sd, "norm.weight", {1.5f, 2.5f});
        expectValues(sd, "norm.bias", {-0.5f, 0.125f});
        expectValues(sd, "bn.running_var", {1.1f, 1.2f});
        QCOMPARE(sd.info("bn.num_batches_tracked").type, TensorType::Int64);
        QVERIFY(sd.info("bn.num_batches_tracked").shape.empty());
        expectValues(sd, "bn.num_batches_tracked", {7.0f});
    }

    void readsEveryStorageType()
    {
        const StateDict sd = readStateDict(kData + "dtypes.pth");
        const std::vector<float> v = {-2.5f, -1.0f, 0.0f, 0.5f, 1.0f, 3.0f};
        struct Case
        {
            const char* name;
            TensorType type;
            std::vector<std::int64_t> shape;
            std::vector<float> values;
        };
        const std::vector<Case> cases = {
            {"f32", TensorType::Float32, {6}, v},
            {"f16", TensorType::Float16, {2, 3}, v},
            {"bf16", TensorType::BFloat16, {3, 2}, v},
            {"f64", TensorType::Float64, {6}, v},
            {"i64", TensorType::Int64, {4}, {-3.0f, 0.0f, 5.0f, 1099511627776.0f}},
            {"i32", TensorType::Int32, {3}, {-7.0f, 0.0f, 9.0f}},
            {"i16", TensorType::Int16, {3}, {-300.0f, 0.0f, 300.0f}},
            {"i8", TensorType::Int8, {3}, {-128.0f, 0.0f, 127.0f}},
            {"u8", TensorType::UInt8, {3}, {0.0f, 1.0f, 255.0f}},
            {"bool", TensorType::Bool, {3}, {1.0f, 0.0f, 1.0f}},
            {"scalar", TensorType::Float32, {}, {4.5f}},
        };
        QCOMPARE(sd.size(), cases.size());
        for (const Case& c : cases) {
            const TensorInfo info = sd.info(c.name);
            QCOMPARE(info.type, c.type);
            QCOMPARE(info.shape, c.shape);
            expectValues(sd, c.name, c.values);
        }
        QCOMPARE(std::string(toString(TensorType::BFloat16)), std::string("bfloat16"));
        QCOMPARE(sd.info("f16").shapeString(), std::string("[2, 3]"));
    }

    void readsNestedTrainingCheckpoint()
    {
        // {'student': ..., 'teacher': ..., 'epoch': 3, 'args': Namespace(...), ...}
        const StateDict teacher = readStateDict(kData + "nested.pth");
        QCOMPARE(teacher.section(), std::string("teacher"));
        QCOMPARE(teacher.strippedPrefixes(), (std::vector<std::string>{"module.", "backbone."}));
        QCOMPARE(teacher.names(), (std::vector<std::string>{"pos_embed", "norm.weight"}));
        QCOMPARE(teacher.skippedKeys(),
                 (std::vector<std::string>{"module.head.last_layer.weight_g"}));
        expectValues(teacher, "pos_embed", {0.0f, 1.0f, 2.0f, 3.0f});
        QCOMPARE(teacher.info("pos_embed").shape, (std::vector<std::int64_t>{1, 2, 2}));

        StateDictOptions options;
        options.section = "student";
        const StateDict student = readStateDict(kData + "nested.pth", options);
        expectValues(student, "pos_embed", {100.0f, 101.0f, 102.0f, 103.0f});
        expectValues(student, "norm.weight", {101.0f, 101.0f});

        options.section = "teacher";
        options.stripPrefixes = false;
        const StateDict raw = readStateDict(kData + "nested.pth", options);
        QCOMPARE(raw.size(), std::size_t(3));
        QVERIFY(raw.contains("module.backbone.pos_embed"));
        QVERIFY(raw.contains("module.head.last_layer.weight_g"));

        options.section = "optimizer";
        EXPECT_ERROR_CONTAINING(readStateDict(kData + "nested.pth", options),
                                std::string("no section 'optimizer'"));
        options.section = "epoch";
        EXPECT_ERROR_CONTAINING(readStateDict(kData + "nested.pth", options),
                                std::string("is a int, not a dictionary"));
        EXPECT_ERROR_CONTAINING(teacher.values("blocks.0.norm1.weight"),
                                std::string("has no tensor 'blocks.0.norm1.weight'"));
    }

    void readsViewsOfSharedStorage()
    {
        const StateDict sd = readStateDict(kData + "shared.pth");
        std::vector<float> base(24);
        for (int i = 0; i < 24; ++i)
            base[std::size_t(i)] = float(i);
        expectValues(sd, "base", base);
        expectValues(sd, "rows", std::vector<float>(base.begin() + 4, base.begin() + 16));
        std::vector<float> transposed;
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 4; ++j)
                transposed.push_back(float(j * 6 + i));
        QCOMPARE(sd.info("transposed").shape, (std::vector<std::int64_t>{6, 4}));
        expectValues(sd, "transposed", transposed);
        expectValues(sd, "every_third", {1, 4, 7, 10, 13, 16, 19, 22});
        expectValues(sd, "picked", {4, 6, 16, 18});
        QCOMPARE(sd.info("empty").shape, (std::vector<std::int64_t>{0}));
        QVERIFY(sd.values("empty").empty());
    }

    void readsHandMadeProtocolFourPickle()
    {
        // SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE and FRAME (protocol 4) next to protocol 2.
        const std::string path = file("proto4.pth");
        std::string p = "\x80\x04\x95" + std::string(8, '\0') + "}\x94(";
        p += "\x8c\x01w\x94";
        p += "\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93\x94(";
        p += "(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + int32(2) +
             "tQ";
        p += int32(0) + ints({2}) + ints({1}) + "\x89" + "ccollections\nOrderedDict\n)RtR";
        p += "u.";
        writeArchive(path, p, {{"data/0", floats({1.5f, -2.0f})}});
        expectValues(readStateDict(path), "w", {1.5f, -2.0f});
    }

    void readsParametersAndTensorSubclassWrappers()
    {
        // nn.Parameter values (_rebuild_parameter) and PyTorch 2's wrapper for tensors with
        // Python state (_rebuild_from_type_v2) unwrap to their data.
        const std::string path = file("wrapped.pth");
        const std::string hooks = "ccollections\nOrderedDict\n)R";
        const std::string parameter = "ctorch._utils\n_rebuild_parameter\n(" +
                                      tensorPickle("FloatStorage", "0", 3, 0, {3}, {1}) + "\x88" +
                                      hooks + "tR";
        const std::string wrapped =
            "ctorch._tensor\n_rebuild_from_type_v2\n(" +
            std::string("ctorch._utils\n_rebuild_tensor_v2\n") + "ctorch\nTensor\n" + "(" + "(" +
            str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + int32(3) + "tQ" +
            int32(1) + ints({2}) + ints({1}) + "\x89" + hooks + "t" + "}" + "tR";
        writeArchive(path, stateDictPickle({{"p", parameter}, {"t", wrapped}}),
                     {{"data/0", floats({1.0f, 2.0f, 3.0f})}});
        const StateDict sd = readStateDict(path);
        expectValues(sd, "p", {1.0f, 2.0f, 3.0f});
        expectValues(sd, "t", {2.0f, 3.0f});

        // A subclass other than Tensor/Parameter is refused by name.
        const std::string other = "ctorch._tensor\n_rebuild_from_type_v2\n(" +
                                  std::string("ctorch._utils\n_rebuild_tensor_v2\n") +
                                  "ctorch\nFloatStorage\n" + ")" + "}" + "tR";
        writeArchive(path, stateDictPickle({{"t", other}}));
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("not supported"));
    }

    void readsBigEndianArchives()
    {
        // Written on a big-endian machine: a "byteorder" record says so.
        const std::string path = file("big.pth");
        std::string bytes = floats({1.5f, -2.0f});
        for (std::size_t i = 0; i < bytes.size(); i += 4)
            std::reverse(bytes.begin() + std::ptrdiff_t(i), bytes.begin() + std::ptrdiff_t(i) + 4);
        writeArchive(path,
                     stateDictPickle({{"w", tensorPickle("FloatStorage", "0", 2, 0, {2}, {1})}}),
                     {{"data/0", bytes}, {"byteorder", "big"}});
        expectValues(readStateDict(path), "w", {1.5f, -2.0f});
        writeArchive(path,
                     stateDictPickle({{"w", tensorPickle("FloatStorage", "0", 2, 0, {2}, {1})}}),
                     {{"data/0", bytes}, {"byteorder", "middle"}});
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("unknown byte order 'middle'"));
    }

    // ---- refusals ----

    void refusesOtherGlobals()
    {
        // A real torch.save of an object whose __reduce__ calls os.system.
        const std::string message = testing::errorOf([&] { readStateDict(kData + "evil.pth"); });
        QVERIFY2(message.find("system") != std::string::npos, message.c_str());
        QVERIFY2(message.find("refusing") != std::string::npos, message.c_str());
        QVERIFY2(message.find("evil.pth") != std::string::npos, message.c_str());

        const std::string path = file("builtins.pth");
        writeArchive(path, "\x80\x02"
                           "cbuiltins\neval\n(" +
                               str("1+1") + "tR.");
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("'builtins.eval'"));

        // An allowed global used in a way a state dict never does.
        writeArchive(path, "\x80\x02"
                           "ccollections\nOrderedDict\n(" +
                               str("x") + "tR.");
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("called with arguments"));
        writeArchive(path, "\x80\x02}(" + str("w") + "ctorch\nFloatStorage\n)Ru.");
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("cannot be called"));
    }

    void refusesUnknownOpcodes()
    {
        const std::string path = file("opcode.pth");
        writeArchive(path, std::string("\x80\x02}q\x00\xff.", 7));
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("opcode 0xff"));
        // INST ('i') imports and calls a class in protocol 0; never accepted.
        writeArchive(path, "\x80\x02(ios\nsystem\n.");
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("opcode 0x69 'i'"));
        writeArchive(path, "\x80\x09}.");
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("protocol 9"));
    }

    void refusesWrongStorageSizes()
    {
        const std::string path = file("size.pth");
        // Declares 10 floats, the record holds 2.
        writeArchive(path,
                     stateDictPickle({{"w", tensorPickle("FloatStorage", "0", 10, 0, {2}, {1})}}),
                     {{"data/0", floats({1.0f, 2.0f})}});
        EXPECT_ERROR_CONTAINING(readStateDict(path),
                                std::string("declares 10 float32 elements (40 bytes) but its "
                                            "record holds 8 bytes"));
        // A view reaching past its storage.
        writeArchive(path,
                     stateDictPickle({{"w", tensorPickle("FloatStorage", "0", 2, 1, {2}, {1})}}),
                     {{"data/0", floats({1.0f, 2.0f})}});
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("reaches element 2"));
        // A missing storage record.
        writeArchive(path,
                     stateDictPickle({{"w", tensorPickle("FloatStorage", "7", 2, 0, {2}, {1})}}));
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("'data/7' is missing"));
        // A storage type that is not one.
        writeArchive(path, stateDictPickle({{"w", tensorPickle("Tensor", "0", 2, 0, {2}, {1})}}),
                     {{"data/0", floats({1.0f, 2.0f})}});
        EXPECT_ERROR_CONTAINING(readStateDict(path),
                                std::string("'torch.Tensor' is not a storage type"));
        // Sizes that overflow.
        writeArchive(path,
                     stateDictPickle(
                         {{"w", tensorPickle("FloatStorage", "0", 2, 0, {1 << 30, 1 << 30, 1 << 30},
                                             {1 << 30, 1 << 30, 1 << 30})}}),
                     {{"data/0", floats({1.0f, 2.0f})}});
        EXPECT_ERROR_CONTAINING(readStateDict(path), std::string("reaches element"));
    }

    void refusesBadFiles()
    {
        EXPECT_ERROR_CONTAINING(readStateDict(file("absent.pth")), std::string("cannot open"));
        writeFile(file("text.pth"), "just some text, not an archive");
        EXPECT_ERROR_CONTAINING(readStateDict(file("text.pth")), std::string("not a zip archive"));
        EXPECT_ERROR_CONTAINING(readStateDict(kData + "legacy.pth"), std::string("legacy format"));

        const std::string whole = readFile(kData + "ordered.pth");
        for (std::size_t cut : {whole.size() - 1, whole.size() / 2, std::size_t(30)}) {
            writeFile(file("truncated.pth"), whole.substr(0, cut));
            const std::string message = testing::errorOf([&] { readStateDict(file("truncated.pth")); });
            QVERIFY2(message.find("truncated.pth") != std::string::npos, message.c_str());
            QVERIFY2(message.find("damaged") != std::string::npos, message.c_str());
        }

        writeArchive(file("list.pth"), "\x80\x02]."); // a list, not a dict
        EXPECT_ERROR_CONTAINING(readStateDict(file("list.pth")), std::string("holds a list"));
        writeArchive(file("nothing.pth"), "\x80\x02}(" + str("epoch") + int32(3) + "u.");
        EXPECT_ERROR_CONTAINING(readStateDict(file("nothing.pth")),
                                std::string("entries: 'epoch'"));
        writeArchive(file("underflow.pth"), "\x80\x02s.");
        EXPECT_ERROR_CONTAINING(readStateDict(file("underflow.pth")), std::string("underflow"));
        writeArchive(file("memo.pth"), "\x80\x02h\x05.");
        EXPECT_ERROR_CONTAINING(readStateDict(file("memo.pth")), std::string("memo entry 5"));
        writeArchive(file("short.pth"), std::string("\x80\x02X\xff\xff\x00\x00", 7) + "ab");
        EXPECT_ERROR_CONTAINING(readStateDict(file("short.pth")),
                                std::string("longer than the rest"));
    }

    // ---- robustness ----

    void byteFlipsNeverCrash()
    {
        // Random flips anywhere in real files: the reader either succeeds or throws
        // primaps::Error; anything else (a crash, another exception type) fails the test.
        std::mt19937 rng(1234);
        int loaded = 0, refused = 0;
        for (const char* name : {"ordered.pth", "nested.pth", "shared.pth", "dtypes.pth"}) {
            const std::string original = readFile(kData + name);
            for (int i = 0; i < 100; ++i) {
                std::string bytes = original;
                const int flips = 1 + int(rng() % 4);
                for (int f = 0; f < flips; ++f)
                    bytes[rng() % bytes.size()] ^= char(1 + rng() % 255);
                writeFile(file("flipped.pth"), bytes);
                try {
                    readStateDict(file("flipped.pth"));
                    ++loaded;
                } catch (const Error&) {
                    ++refused;
                }
            }
        }
        qInfo("zip byte flips: %d loaded, %d refused", loaded, refused);
        QCOMPARE(loaded + refused, 400);
    }

    void pickleByteFlipsNeverCrash()
    {
        // Flips inside data.pkl, re-packed with valid CRCs, so that the unpickler itself
        // (not the archive's checksums) meets the damage.
        caffe2::serialize::PyTorchStreamReader reader(kData + "nested.pth");
        std::vector<std::pair<std::string, std::string>> records;
        std::string pickle;
        for (const std::string& name : reader.getAllRecords()) {
            auto [ptr, size] = reader.getRecord(name);
            std::string bytes(static_cast<const char*>(ptr.get()), size);
            if (name == "data.pkl")
                pickle = bytes;
            else if (name != "version")
                records.emplace_back(name, bytes);
        }
        QVERIFY(!pickle.empty());
        std::mt19937 rng(99);
        int loaded = 0, refused = 0;
        for (int i = 0; i < 300; ++i) {
            std::string bytes = pickle;
            const int flips = 1 + int(rng() % 3);
            for (int f = 0; f < flips; ++f) {
                const std::size_t at = rng() % bytes.size();
                if (rng() % 2)
                    bytes[at] ^= char(1 << (rng() % 8));
                else
                    bytes[at] = char(rng() % 256);
            }
            writeArchive(file("pickle.pth"), bytes, records);
            try {
                readStateDict(file("pickle.pth"));
                ++loaded;
            } catch (const Error&) {
                ++refused;
            }
        }
        qInfo("pickle byte flips: %d loaded, %d refused", loaded, refused);
        QCOMPARE(loaded + refused, 300);
    }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
