// SPDX-License-Identifier: MIT
#include "fittedrun.h"

#include "support/atomicfile.h"
#include "support/error.h"

#include <QJsonDocument>

namespace primaps::cli {

QJsonObject evaluationJson(const EvaluationResult& r, const std::vector<std::string>& names,
                           const ConfusionMatrix& confusion)
{
    return QJsonDocument::fromJson(QByteArray::fromStdString(evaluationToJson(r, names, confusion)))
        .object();
}

} // namespace primaps::cli
