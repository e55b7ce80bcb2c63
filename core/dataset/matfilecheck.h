// SPDX-License-Identifier: MIT
// A structural check of MATLAB .mat files before libmatio reads them. matio trusts
// the sizes a file declares and allocates them before it reads any data: a 343-byte
// MAT 5 file whose compressed variable claimed 1.7 G dimensions made it allocate
// ~7 GB, a 367-byte file it took for MAT 4 1.7 GB. Private to core/dataset.
#pragma once

#include <cstdint>
#include <string>

namespace primaps {

/// Data types of the MAT 5 format's element tags (MATLAB's "MAT-File Format",
/// table 1-1), shared by the check and the tests that build hostile files.
enum MatDataType : std::uint32_t
{
    miINT8 = 1,
    miUINT8 = 2,
    miINT32 = 5,
    miUINT32 = 6,
    miMATRIX = 14,
    miCOMPRESSED = 15,
    miUTF8 = 16,
    miUTF32 = 18,
};

/// Array classes of a MAT 5 array (the low byte of its flags).
enum MatArrayClass : std::uint32_t
{
    mxCELL = 1,
    mxSTRUCT = 2,
    mxOBJECT = 3,
    mxCHAR = 4,
    mxSPARSE = 5,
    mxDOUBLE = 6,
    mxUINT8 = 9,
    mxUINT64 = 15,
};

enum class MatFileVersion
{
    Mat5,  ///< MATLAB 5 to 7 (-v6, -v7): elements, optionally zlib-compressed
    Mat73, ///< MATLAB 7.3: an HDF5 file (read by HDF5 through matio)
};

struct MatFileLimits
{
    /// Bytes all compressed variables of one file may inflate to, together.
    std::uint64_t maxInflatedBytes = 0;
    /// Why that many (ends the refusal's message), e.g. "the pixel budget's ...".
    std::string why;
};

/// Checks the 128-byte header (text, version 0x0100 or 0x0200, the endian indicator
/// "IM"/"MI") and, for a MAT 5 file, walks every variable without reading its data:
/// each element, sub-element, dimension list, name, data part, cell and struct field
/// must fit in the element that holds it, the data parts must hold exactly the bytes
/// their dimensions declare, compressed variables must inflate to what they declare
/// (and all of them together to no more than limits.maxInflatedBytes). Variables
/// nest at most 32 deep, and a file holds at most 65536 arrays (cells and struct
/// fields count). MATLAB objects, function handles and unknown classes are refused.
/// Afterwards every size matio allocates for is backed by bytes of the file.
/// Throws primaps::Error "'<path>': <what and where>" otherwise; a file without the
/// header is "not a MATLAB 5 or 7.3 .mat file" (matio would read it as MAT 4).
MatFileVersion checkMatFileStructure(const std::string& path, const MatFileLimits& limits);

} // namespace primaps
