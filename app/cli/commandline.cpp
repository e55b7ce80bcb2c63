// SPDX-License-Identifier: MIT
#include "commandline.h"

#include "commands.h"
#include "image/imageio.h"
#include "runs/datasetjobs.h"
#include "support/runtime.h"
#include "support/stderrmute.h"
#include "support/utf8bytes.h"

#include <cmath>
#include <QRegularExpression>

namespace primaps::cli {

bool isValidUtf8(const QByteArray& bytes)
{
    return isWellFormedUtf8(std::string_view(bytes.constData(), std::size_t(bytes.size())));
}

QString printableBytes(const QByteArray& bytes)
{
    return QString::fromStdString(
        escapeMalformedUtf8(std::string_view(bytes.constData(), std::size_t(bytes.size()))));
}

FILE* errorOutput()
{
    static FILE* const file = [] {
        const int fd = unmutedStderr();
        FILE* f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
        if (!f)
            return stderr;
        std::setvbuf(f, nullptr, _IONBF, 0);
        return f;
    }();
    return file;
}

std::optional<int> parseCommandLine(QCommandLineParser& parser, const QStringList& arguments,
                                    const QString& command)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());
    // Not addHelpOption(): it adds --help-all for Qt's own options, which no
    // command of this program takes.
    parser.addOption(QCommandLineOption({"h", "help"}, "Displays help on commandline options."));
    QStringList forParser = arguments;
    forParser.removeAt(1); // the command name
    if (!parser.parse(forParser)) {
        err << "primaps " << command << ": " << parser.errorText() << "; see 'primaps " << command
            << " --help'\n";
        return ExitUsage;
    }
    if (parser.isSet("help")) {
        QString help = parser.helpText();
        help.replace(QRegularExpression("^Usage: \\S+"), "Usage: primaps " + command);
        out << help;
        return ExitOk;
    }
    return std::nullopt;
}

QString optionName(const QCommandLineOption& option)
{
    return "--" + option.names().last();
}

void OptionChecker::fail(const QCommandLineOption* option, const QString& problem)
{
    errors_ << (option ? optionName(*option) + ": " + problem : problem);
}

int OptionChecker::integer(const QCommandLineOption& option, int minimum, int maximum)
{
    bool ok = false;
    const QString text = parser_.value(option).trimmed();
    const qlonglong v = text.toLongLong(&ok);
    if (ok && v >= minimum && v <= maximum)
        return int(v);
    const QString range = maximum == std::numeric_limits<int>::max()
                              ? QString(">= %1").arg(minimum)
                              : QString("in %1..%2").arg(minimum).arg(maximum);
    fail(&option, QString("must be a whole number %1, not '%2'").arg(range, text));
    return minimum;
}

double OptionChecker::number(const QCommandLineOption& option, double low, double high,
                             bool lowOpen, bool highOpen)
{
    bool ok = false;
    const QString text = parser_.value(option).trimmed();
    const double v = text.toDouble(&ok);
    const bool inside = ok && std::isfinite(v) && (lowOpen ? v > low : v >= low) &&
                        (highOpen ? v < high : v <= high);
    if (inside)
        return v;
    QString range;
    if (std::isinf(high))
        range = QString(lowOpen ? "> %1" : ">= %1").arg(low);
    else
        range = QString("in %1%2, %3%4")
                    .arg(lowOpen ? "(" : "[")
                    .arg(low)
                    .arg(high)
                    .arg(highOpen ? ")" : "]");
    fail(&option, QString("must be a number %1, not '%2'").arg(range, text));
    return low;
}

QString OptionChecker::choice(const QCommandLineOption& option, const QStringList& choices)
{
    const QString v = parser_.value(option);
    if (choices.contains(v))
        return v;
    fail(&option,
         QString("must be %1, not '%2'")
             .arg(choices.size() == 2 ? choices.join(" or ") : "one of " + choices.join(", "), v));
    return choices.front();
}

int OptionChecker::report(QTextStream& err, const QString& command) const
{
    for (const QString& e : errors_)
        err << "primaps " << command << ": " << e << "\n";
    err << "see 'primaps " << command << " --help'\n";
    err.flush();
    return ExitUsage;
}

QString processingBudgetLine(const QString& imagePath, const std::string& budgetNote)
{
    if (budgetNote.empty())
        return {};
    return "primaps: note: '" + imagePath + "': " + QString::fromStdString(budgetNote) +
           " (--max-processing-pixels N raises it)";
}

QString resizeTooSmall(int resize, int patchSize, const std::string& backboneName)
{
    const int minimum = minimumResolution(patchSize);
    if (resize == 0 || resize >= minimum)
        return {};
    return "--resize " + QString::number(resize) + ": at least " + QString::number(minimum) +
           " pixels (two of " + QString::fromStdString(backboneName) + "'s " +
           QString::number(patchSize) + "-pixel patches), or 0 to keep the size";
}

void ResourceOptions::apply(const QCommandLineParser& parser, OptionChecker& checker) const
{
    const int before = checker.errors().size();
    const int threadCount = parser.isSet(threads) ? checker.integer(threads, 1, 1024) : 0;
    PixelBudget budget;
    if (parser.isSet(maxPixels))
        budget.maxPixels = checker.integer(maxPixels, 1);
    if (parser.isSet(maxAspect))
        budget.maxAspect = checker.number(maxAspect, 1.0, 1e6);
    if (parser.isSet(maxProcessingPixels))
        budget.maxProcessingPixels = checker.integer(maxProcessingPixels, 64 * 64);
    budget.howToRaise = "to accept it, raise the limit with --max-pixels N, --max-aspect R or "
                        "--max-processing-pixels N";
    if (checker.errors().size() != before)
        return;
    setPixelBudget(budget);
    configureThreads(threadCount);
}

} // namespace primaps::cli
