// SPDX-License-Identifier: MIT
// The run folder as `primaps eval`/`export` and the studio read it: run.json,
// state.json (checkpoint step, history, a full EmFit::restoreState()), metrics.csv,
// theta_m.json and an evaluation JSON, plus openFittedRun() on all of them.
//
// Input: parts (fuzz_support.h) in this order: run.json, state.json, theta_m.json,
// metrics.csv, evaluation JSON; missing parts leave the file absent.
#include "backbones/backbone.h"
#include "em/emfit.h"
#include "support/error.h"
#include "runs/evaluationreport.h"
#include "runs/fitrun.h"
#include "fuzz_support.h"

#include <cstdint>
#include <filesystem>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto parts = fuzz::splitParts({reinterpret_cast<const char*>(data), size});
    const std::string dir = fuzz::scratchDir() + "/run";
    std::filesystem::remove_all(dir);
    static const char* const names[] = {"run.json", "state.json", "theta_m.json", "metrics.csv"};
    for (std::size_t i = 0; i < 4 && i < parts.size(); ++i)
        fuzz::writeScratch(std::string("run/") + names[i], parts[i]);

    bool filterbank = false;
    try {
        filterbank = readFitRunFolder(dir).settings.backbone == "filterbank";
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    (void)readFitCheckpointStep(dir);
    (void)readFitHistory(dir);
    if (parts.size() > 1) {
        try {
            (void)emHistoryFromState(std::string(parts[1]));
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
        static const fuzz::TinyEmData tiny;
        try {
            EmFit fit(tiny, fuzz::tinyEmParams());
            fit.restoreState(std::string(parts[1]));
            // A restored state must be one the fit can go on from.
            for (int i = 0; i < 3 && !fit.done(); ++i)
                fit.step();
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    }
    if (parts.size() > 2) {
        try {
            (void)prototypesFromJson(std::string(parts[2]));
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    }
    // openFittedRun() creates the run's backbone; only the filterbank is cheap and reads
    // no weights file (a fuzzed path could name any file on the machine).
    if (filterbank) {
        try {
            (void)openFittedRun(dir, "m");
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    }
    if (parts.size() > 4) {
        try {
            (void)parseEvaluationJson(std::string(parts[4]), "eval.json");
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    }
    return 0;
}
