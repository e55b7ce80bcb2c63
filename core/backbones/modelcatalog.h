// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primaps {

/// One entry of the model catalogue (models/catalog.json): a released backbone that
/// PriMaPs Studio reads natively, and where it is published.
struct ModelInfo
{
    std::string name;         ///< registry name, e.g. "dino_vits8"
    std::string title;        ///< "DINO ViT-S/8"
    std::string family;       ///< "dino" or "dinov2"
    std::string architecture; ///< "vit_small", "vit_base"
    int patchSize = 0;
    int dim = 0;
    int depth = 0;
    int heads = 0;
    std::int64_t parameters = 0;
    int resize = 320;              ///< recommended shorter side (docs/ALGORITHM.md, "Resize and fit to the patch grid")
    float threshold = 0.4f;        ///< recommended PriMaPs threshold
    std::string url;               ///< official download address
    std::string fileName;          ///< file name of the published checkpoint
    std::int64_t expectedSize = 0; ///< bytes, derived from the architecture
    double sizeTolerance = 0.01;   ///< relative; the published file lies within it
    std::string source;            ///< the project that publishes the weights

    /// True when `bytes` is within sizeTolerance of expectedSize.
    bool plausibleSize(std::int64_t bytes) const;
};

/// The model catalogue: the installed models/catalog.json (dataPath(), e.g.
/// /usr/share/primaps-studio/models/catalog.json) when it exists and is valid, else the
/// copy built into the library. Read once; never empty; safe to call from any thread.
const std::vector<ModelInfo>& modelCatalog();

/// Where modelCatalog() came from: the file's path, or "built in" (with the reason when
/// an installed file was unusable).
std::string modelCatalogSource();

/// Parses a catalogue in the catalog.json format. `source` names it in errors. Throws
/// primaps::Error naming the source and the entry on malformed JSON or a missing field.
std::vector<ModelInfo> parseModelCatalog(const std::string& json, const std::string& source);

/// The entry named `name` in modelCatalog(), or nullptr.
const ModelInfo* findModel(const std::string& name);

/// Folders searched, in order, for a catalogued model's file when no path is given:
/// $PRIMAPS_MODELS_DIR (when set), modelDownloadDirectory(), and PyTorch Hub's
/// checkpoint cache ($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints),
/// where torch.hub.load() of DINO/DINOv2 leaves these very files. Reads the environment;
/// call from any thread.
std::vector<std::string> modelSearchDirectories();

/// Where the GUI stores downloaded models: $XDG_DATA_HOME (default ~/.local/share)
/// + "/PriMaPs/PriMaPs Studio/models", the folder QStandardPaths::AppLocalDataLocation
/// gives the studio, plus "models".
std::string modelDownloadDirectory();

/// The first existing regular file named model.fileName in modelSearchDirectories(),
/// or "" when there is none.
std::string findModelFile(const ModelInfo& model);

/// The checkpoint to load for catalogued backbone `name`: `explicitPath` when it is not
/// empty, else findModelFile(). Throws primaps::Error that says how to get the file (the
/// official address, the folders searched, the --weights option) when the path is empty
/// and nothing is found, or when the given file does not exist.
std::string resolveModelWeights(const std::string& name, const std::string& explicitPath);

} // namespace primaps
