// SPDX-License-Identifier: MIT
// What every subcommand does with its command line: parse it (or print its
// help), check every value before any work with one message per bad option,
// and the options all computing commands share (--threads, the pixel budget).
#pragma once

#include <cstdio>
#include <limits>
#include <optional>
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QString>
#include <QStringList>
#include <QTextStream>

namespace primaps::cli {

/// Parses `arguments` (program name, command name, options) with `parser`.
/// Returns an exit code when the command is done already: ExitOk after printing
/// --help, ExitUsage after printing a parse error (an unknown option, a missing
/// value). Returns nothing when the command should go on.
std::optional<int> parseCommandLine(QCommandLineParser& parser, const QStringList& arguments,
                                    const QString& command);

/// Where the CLI writes its messages (stderr's QTextStream): the process's
/// standard error, through a descriptor that the image decoders' mute
/// (support/stderrmute.h) never redirects, so that no line is lost while
/// another thread decodes. Unbuffered, like stderr.
FILE* errorOutput();

/// Collects one message per bad option, so that a user sees every problem of a
/// command line at once, before anything has been done.
class OptionChecker
{
public:
    explicit OptionChecker(const QCommandLineParser& parser) : parser_(parser) {}

    /// The option's value as a whole number in [minimum, maximum]; records an
    /// error naming the option and returns `minimum` otherwise.
    int integer(const QCommandLineOption& option, int minimum,
                int maximum = std::numeric_limits<int>::max());
    /// The option's value as a finite number within the bounds (open or closed,
    /// as `lowOpen` / `highOpen` say); records an error and returns `low` otherwise.
    double number(const QCommandLineOption& option, double low, double high, bool lowOpen = false,
                  bool highOpen = false);
    /// The option's value when it is one of `choices`; records an error otherwise.
    QString choice(const QCommandLineOption& option, const QStringList& choices);
    /// Records a problem of an option (`--name` is put in front) or of the whole
    /// command line (`option` null).
    void fail(const QCommandLineOption* option, const QString& problem);
    /// Runs `f`; a std::exception it throws becomes an error of `option`.
    template <typename F> void guard(const QCommandLineOption* option, F&& f)
    {
        try {
            f();
        } catch (const std::exception& e) {
            fail(option, QString::fromStdString(e.what()));
        }
    }

    bool ok() const { return errors_.isEmpty(); }
    const QStringList& errors() const { return errors_; }
    /// Prints each error on a line of its own and where to read about the
    /// options; returns ExitUsage.
    int report(QTextStream& err, const QString& command) const;

private:
    const QCommandLineParser& parser_;
    QStringList errors_;
};

/// The CLI's line for an image the processing budget made smaller
/// (PreparedImage::budgetNote()), naming the file and the option that raises it;
/// empty when the image was processed at the size asked for.
QString processingBudgetLine(const QString& imagePath, const std::string& budgetNote);

/// The message for `--resize N` below two patches of a backbone with
/// `patchSize`-pixel patches (such an image has at most one feature position in
/// one direction, and PriMaPs finds nothing in it); empty when N is 0 (keep the
/// size) or large enough.
QString resizeTooSmall(int resize, int patchSize, const std::string& backboneName);

/// Whether `bytes` (a file name or an argument as the system passes it) is valid
/// UTF-8. Qt decodes names as UTF-8, so a name that is not cannot be opened
/// through a QString: it has to be reported, not looked up.
bool isValidUtf8(const QByteArray& bytes);

/// `bytes` for a message: valid UTF-8 as it is, other bytes as \xHH.
QString printableBytes(const QByteArray& bytes);

/// "--name", the long name of an option, for messages.
QString optionName(const QCommandLineOption& option);

/// Options of every command that computes: threads and the pixel budget.
struct ResourceOptions
{
    QCommandLineOption threads{
        "threads",
        "Threads for the computation (LibTorch, OpenCV, OpenBLAS); default: one per core. "
        "Give fewer when several jobs share a machine.",
        "N"};
    QCommandLineOption maxPixels{
        "max-pixels",
        "Pixel budget: images with more pixels are refused before they are decoded, and so "
        "are resized versions with more (default: 64000000).",
        "N"};
    QCommandLineOption maxAspect{
        "max-aspect",
        "Refuse images whose longer side is more than R times the shorter one (default: 50).", "R"};
    QCommandLineOption maxProcessingPixels{
        "max-processing-pixels",
        "Processing budget: an image the resize would make larger than N pixels is processed "
        "smaller (shorter side lowered, aspect kept; a note says so), so that the backbone and "
        "the dense CRF stay within about 2 GB (default: 1048576, 1024x1024).",
        "N"};

    void addTo(QCommandLineParser& parser) const
    {
        parser.addOptions({threads, maxPixels, maxAspect, maxProcessingPixels});
    }

    /// Checks the values into `checker`; when they are fine, sets the thread
    /// count and the pixel budget of this process.
    void apply(const QCommandLineParser& parser, OptionChecker& checker) const;
};

} // namespace primaps::cli
