// SPDX-License-Identifier: MIT
#include "explore/featureviewdata.h"

#include "explore/featureviewwidget.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"

#include <QElapsedTimer>

namespace primaps {

namespace {

bool sameFeatures(const FeatureMap& a, const FeatureMap& b)
{
    return a.channels == b.channels && a.height == b.height && a.width == b.width &&
           a.values == b.values;
}

} // namespace

std::shared_ptr<const FeatureViewData>
computeFeatureViewData(const std::shared_ptr<const ImageDecomposition>& decomposition,
        const std::shared_ptr<const FeatureViewData>& previous,
        const std::shared_ptr<const FeaturePca>& basis)
{
    auto data = std::make_shared<FeatureViewData>();
    data->decomposition = decomposition;
    const bool shared = basis && basis->channels == decomposition->features.channels;
    data->basis = shared ? basis : nullptr;
    QElapsedTimer clock;
    clock.start();
    try {
        const FeatureMap& features = decomposition->features;
        if (data->basis) {
            data->pca = std::make_shared<const FeaturePca>(projectOntoPca(*data->basis, features));
        } else if (previous && previous->pca && !previous->basis && previous->decomposition &&
                   sameFeatures(previous->decomposition->features, features)) {
            data->pca = previous->pca; // another threshold on the same features
            data->pcaReused = true;
        } else {
            FeaturePcaParams params;
            params.components = kFeatureViewComponents;
            data->pca = std::make_shared<const FeaturePca>(computeFeaturePca(features, params));
        }
        data->iterations = iterationProjections(features, decomposition->trace);
        data->takenBy.assign(features.positions(), 0);
        const auto& iterations = decomposition->trace.iterations;
        for (std::size_t k = 0; k < iterations.size(); ++k)
            for (std::size_t i = 0; i < data->takenBy.size(); ++i)
                if (data->takenBy[i] == 0 && iterations[k].mask[i] > 0.0f)
                    data->takenBy[i] = int(k) + 1;
    } catch (const std::bad_alloc&) {
        data->error = FeatureViewWidget::tr("Not enough memory for the feature PCA.");
    } catch (const std::exception& e) {
        data->error = QString::fromLocal8Bit(e.what());
    }
    data->ms = double(clock.nsecsElapsed()) / 1e6;
    return data;
}

} // namespace primaps
