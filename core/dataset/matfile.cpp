// SPDX-License-Identifier: MIT
// readMatVariable() (dataset.h): Potsdam-3's MATLAB files through libmatio. A MAT 5
// file is read here after matfilecheck.h made sure that matio allocates nothing the
// file does not back; a MAT 7.3 (HDF5) file in a child process (matsandbox.h).
#include "dataset/dataset.h"

#include "dataset/matfilecheck.h"
#include "dataset/matsandbox.h"
#include "image/imageio.h"
#include "support/error.h"

#include <cstdint>
#include <filesystem>
#include <matio.h>

namespace primaps {

namespace {

int cvDepthOf(matio_classes c)
{
    switch (c) {
    case MAT_C_UINT8:
        return CV_8U;
    case MAT_C_INT8:
        return CV_8S;
    case MAT_C_UINT16:
        return CV_16U;
    case MAT_C_INT16:
        return CV_16S;
    case MAT_C_INT32:
        return CV_32S;
    case MAT_C_SINGLE:
        return CV_32F;
    default:
        return CV_64F;
    }
}

// MATLAB stores column-major: element (y, x, c) at y + rows * (x + cols * c). Converts
// straight into the result (no copy of the whole array in between).
template <typename Stored, typename Out> void copyColumnMajor(const void* data, cv::Mat& out)
{
    const auto* in = static_cast<const Stored*>(data);
    const int rows = out.rows, cols = out.cols, channels = out.channels();
    for (int y = 0; y < rows; ++y) {
        Out* row = out.ptr<Out>(y);
        for (int x = 0; x < cols; ++x)
            for (int c = 0; c < channels; ++c)
                row[x * channels + c] = cv::saturate_cast<Out>(
                    in[std::size_t(y) +
                       std::size_t(rows) * (std::size_t(x) + std::size_t(cols) * std::size_t(c))]);
    }
}

template <typename Stored> void copyInto(const void* data, cv::Mat& out)
{
    switch (out.depth()) {
    case CV_8U:
        copyColumnMajor<Stored, std::uint8_t>(data, out);
        break;
    case CV_8S:
        copyColumnMajor<Stored, std::int8_t>(data, out);
        break;
    case CV_16U:
        copyColumnMajor<Stored, std::uint16_t>(data, out);
        break;
    case CV_16S:
        copyColumnMajor<Stored, std::int16_t>(data, out);
        break;
    case CV_32S:
        copyColumnMajor<Stored, std::int32_t>(data, out);
        break;
    case CV_32F:
        copyColumnMajor<Stored, float>(data, out);
        break;
    default:
        copyColumnMajor<Stored, double>(data, out);
        break;
    }
}

} // namespace

MatArrayShape matArrayShapeOf(const matvar_t* var)
{
    MatArrayShape shape;
    shape.classType = std::int32_t(var->class_type);
    shape.isComplex = var->isComplex ? 1 : 0;
    shape.rank = std::int32_t(var->rank);
    for (int i = 0; i < 3 && i < var->rank && var->dims; ++i)
        shape.dims[i] = var->dims[i];
    return shape;
}

void checkMatArrayShape(const MatArrayShape& shape, const std::string& where)
{
    if (shape.isComplex || matValueBytes(shape.classType) == 0)
        throw Error(where + ": not a real dense numeric array");
    if (shape.rank < 2 || shape.rank > 3)
        throw Error(where + ": expected a 2-D or 3-D array, got rank " +
                    std::to_string(shape.rank));
    const std::uint64_t rows = shape.dims[0], cols = shape.dims[1];
    const std::uint64_t channels = shape.rank == 3 ? shape.dims[2] : 1;
    if (rows < 1 || cols < 1 || channels < 1 || channels > 4 || rows > INT64_MAX ||
        cols > INT64_MAX)
        throw Error(where + ": unsupported shape");
    checkPixelCount(std::int64_t(cols), std::int64_t(rows),
                    where + ": " + std::to_string(cols) + "x" + std::to_string(rows) + " pixels");
}

std::size_t matValueBytes(std::int32_t classType)
{
    switch (matio_classes(classType)) {
    case MAT_C_DOUBLE:
    case MAT_C_INT64:
    case MAT_C_UINT64:
        return 8;
    case MAT_C_SINGLE:
    case MAT_C_INT32:
    case MAT_C_UINT32:
        return 4;
    case MAT_C_INT16:
    case MAT_C_UINT16:
        return 2;
    case MAT_C_INT8:
    case MAT_C_UINT8:
        return 1;
    default:
        return 0;
    }
}

cv::Mat matArrayToMat(const MatArrayShape& shape, const void* values)
{
    const int channels = shape.rank == 3 ? int(shape.dims[2]) : 1;
    const auto cls = matio_classes(shape.classType);
    cv::Mat out(int(shape.dims[0]), int(shape.dims[1]), CV_MAKETYPE(cvDepthOf(cls), channels));
    switch (cls) {
    case MAT_C_DOUBLE:
        copyInto<double>(values, out);
        break;
    case MAT_C_SINGLE:
        copyInto<float>(values, out);
        break;
    case MAT_C_INT8:
        copyInto<std::int8_t>(values, out);
        break;
    case MAT_C_UINT8:
        copyInto<std::uint8_t>(values, out);
        break;
    case MAT_C_INT16:
        copyInto<std::int16_t>(values, out);
        break;
    case MAT_C_UINT16:
        copyInto<std::uint16_t>(values, out);
        break;
    case MAT_C_INT32:
        copyInto<std::int32_t>(values, out);
        break;
    case MAT_C_UINT32:
        copyInto<std::uint32_t>(values, out);
        break;
    case MAT_C_INT64:
        copyInto<std::int64_t>(values, out);
        break;
    case MAT_C_UINT64:
        copyInto<std::uint64_t>(values, out);
        break;
    default:
        throw Error("not a numeric array");
    }
    return out;
}

cv::Mat readMatVariable(const std::string& path, const std::string& variable)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw Error("'" + path + "': no such file");
    // The largest array read is an image of the pixel budget in 4 channels of 8-byte
    // values; 1 MiB more for headers and other small variables.
    const PixelBudget budget = pixelBudget();
    MatFileLimits limits;
    limits.maxInflatedBytes = std::uint64_t(budget.maxPixels) * 4 * 8 + (1u << 20);
    limits.why = "the most an image of the pixel budget (" + std::to_string(budget.maxPixels) +
                 " pixels) takes in 4 channels of 8-byte values, and 1 MiB; " + budget.howToRaise;
    if (checkMatFileStructure(path, limits) == MatFileVersion::Mat73)
        return readMat73Variable(path, variable); // HDF5 underneath: in a child process

    mat_t* mat = Mat_Open(path.c_str(), MAT_ACC_RDONLY);
    if (!mat)
        throw Error("'" + path + "': not a MATLAB .mat file, or the file is corrupt");
    struct Close
    {
        mat_t* m;
        ~Close() { Mat_Close(m); }
    } closeMat{mat};
    struct Free
    {
        matvar_t* v = nullptr;
        ~Free() { Mat_VarFree(v); }
    };
    const std::string where = "'" + path + "', variable '" + variable + "'";
    {
        // Its class and dimensions first: no data is read for a shape we refuse.
        Free info{Mat_VarReadInfo(mat, variable.c_str())};
        if (!info.v)
            throw Error(where + ": missing or unreadable");
        checkMatArrayShape(matArrayShapeOf(info.v), where);
    }
    Free read{Mat_VarRead(mat, variable.c_str())};
    if (!read.v || !read.v->data)
        throw Error(where + ": missing or unreadable");
    const MatArrayShape shape = matArrayShapeOf(read.v);
    checkMatArrayShape(shape, where);
    return matArrayToMat(shape, read.v->data);
}

} // namespace primaps
