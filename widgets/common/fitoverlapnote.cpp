// SPDX-License-Identifier: MIT
#include "common/fitoverlapnote.h"

#include "dataset/defaultsplit.h"

#include <QCoreApplication>
#include <QDir>

namespace primaps {

QString fitOverlapNote(const DatasetOptions& fitted, const Dataset& evaluated)
{
    const QString root = QDir::toNativeSeparators(QString::fromStdString(evaluated.root()));
    const QString split = QString::fromStdString(evaluated.split());
    auto tr = [](const char* text) { return QCoreApplication::translate("primaps::FitOverlap", text); };
    switch (fitOverlap(fitted, evaluated)) {
    case FitOverlap::EvaluatedWhole:
        return tr("These scores include the images the run was fitted on: the folder '%1' has "
                  "no val.txt, so all its images are evaluated. List the validation images in "
                  "val.txt, or fit with a hold-out, to score images the fit has not seen.")
            .arg(root);
    case FitOverlap::FittedWhole:
        return tr("These scores are on images the run was fitted on: it was fitted on every "
                  "image of '%1' (there was no train.txt), split '%2' included. List the "
                  "training images in train.txt, or fit with a hold-out, to score images the "
                  "fit has not seen.")
            .arg(root, split);
    case FitOverlap::SameSplit:
        return tr("These scores are on images the run was fitted on: split '%1' of '%2' is "
                  "the one it was fitted on.")
            .arg(split, root);
    case FitOverlap::None:
        break;
    }
    return {};
}

} // namespace primaps
