// SPDX-License-Identifier: MIT
#include "interchange/indexedpng.h"

#include "image/pngchunks.h"
#include "support/error.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <png.h>

namespace primaps::interchange {

namespace {

struct ReadCursor
{
    const std::string* bytes;
    std::size_t pos;
};

[[noreturn]] void pngError(png_structp png, png_const_charp message)
{
    auto* why = static_cast<std::string*>(png_get_error_ptr(png));
    if (why)
        *why = message;
    png_longjmp(png, 1);
}

void pngWarning(png_structp, png_const_charp) {}

} // namespace

std::string encodeIndexedPng(const cv::Mat& values, const std::vector<cv::Vec3b>& palette,
                             const std::string& provenance)
{
    if (values.type() != CV_8UC1 || values.empty())
        throw Error("an indexed PNG needs 8-bit single-channel values");
    std::string why;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &why, pngError, pngWarning);
    if (!png)
        throw Error("cannot start a PNG encoder");
    png_set_chunk_malloc_max(png, 8u << 20);
    png_infop info = png_create_info_struct(png);
    std::string out;
    std::vector<png_color> entries(256, png_color{0, 0, 0});
    for (std::size_t i = 0; i < palette.size() && i < 256; ++i)
        entries[i] = png_color{palette[i][0], palette[i][1], palette[i][2]};
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        throw Error("cannot encode an indexed PNG: " + why);
    }
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep data, png_size_t n) {
            static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), n);
        },
        nullptr);
    png_set_IHDR(png, info, png_uint_32(values.cols), png_uint_32(values.rows), 8,
                 PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_PLTE(png, info, entries.data(), 256);
    png_text text{};
    std::string keyword = "primaps";
    if (!provenance.empty()) {
        text.compression = PNG_TEXT_COMPRESSION_NONE;
        text.key = keyword.data();
        text.text = const_cast<char*>(provenance.c_str());
        text.text_length = provenance.size();
        png_set_text(png, info, &text, 1);
    }
    png_write_info(png, info);
    for (int y = 0; y < values.rows; ++y)
        png_write_row(png, const_cast<png_bytep>(values.ptr<png_byte>(y)));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return out;
}

cv::Mat decodePngValues(const std::string& bytes, const std::string& source,
                        std::vector<cv::Vec3b>* palette)
{
    if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8))
        throw Error("'" + source + "': not a PNG file");
    // libpng allocates a chunk's claimed length before reading it (a 1.7 GB
    // text chunk in a 1 kB file, found by fuzzing): every chunk must fit in
    // the bytes there are, and none may ask for more than 8 MB (below).
    if (const auto overrun = findPngChunkOverrun(bytes))
        throw Error("'" + source + "': a broken PNG (" + overrun->describe() + ")");
    std::string why;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &why, pngError, pngWarning);
    if (!png)
        throw Error("cannot start a PNG decoder");
    png_set_chunk_malloc_max(png, 8u << 20); // the reader's, not only the writer's
    png_infop info = png_create_info_struct(png);
    ReadCursor cursor{&bytes, 0};
    cv::Mat values;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error("'" + source + "': " + (why.empty() ? "a broken PNG" : why));
    }
    png_set_read_fn(png, &cursor, [](png_structp p, png_bytep data, png_size_t n) {
        auto* c = static_cast<ReadCursor*>(png_get_io_ptr(p));
        if (c->pos + n > c->bytes->size())
            png_error(p, "the file ends early");
        std::memcpy(data, c->bytes->data() + c->pos, n);
        c->pos += n;
    });
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info);
    const png_uint_32 height = png_get_image_height(png, info);
    const int colour = png_get_color_type(png, info);
    const int depth = png_get_bit_depth(png, info);
    if (colour != PNG_COLOR_TYPE_PALETTE && colour != PNG_COLOR_TYPE_GRAY)
        png_error(png, "not a palette or greyscale PNG (label values are single-channel)");
    if (depth == 16)
        png_error(png, "16-bit values are not 8-bit labels");
    if (std::uint64_t(width) * height > (std::uint64_t(1) << 28))
        png_error(png, "the image is too large for a label map");
    if (depth < 8)
        png_set_packing(png); // one value per byte, the values themselves (not scaled)
    if (palette) {
        palette->clear();
        png_colorp entries = nullptr;
        int count = 0;
        if (colour == PNG_COLOR_TYPE_PALETTE && png_get_PLTE(png, info, &entries, &count))
            for (int i = 0; i < count; ++i)
                palette->emplace_back(entries[i].red, entries[i].green, entries[i].blue);
    }
    png_read_update_info(png, info);
    values.create(int(height), int(width), CV_8UC1);
    std::vector<png_bytep> rows(height);
    for (png_uint_32 y = 0; y < height; ++y)
        rows[y] = values.ptr<png_byte>(int(y));
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return values;
}

} // namespace primaps::interchange
