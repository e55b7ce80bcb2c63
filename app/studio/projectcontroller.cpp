// SPDX-License-Identifier: MIT
#include "projectcontroller.h"
#include "common/backgroundpool.h"

#include "labels/corrections.h"
#include "review/datasetbrowserwidget.h"
#include "evaluate/evaluationwidget.h"
#include "runs/fitrun.h"
#include "explore/imagelistwidget.h"
#include "loosecorrections.h"
#include "mainwindow.h"
#include "common/messagewidget.h"
#include "backbonemanager/modelregistry.h"
#include "reviewcontroller.h"
#include "review/reviewjob.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QtConcurrent/QtConcurrentRun>
#include <QTimer>

namespace primaps {

namespace {

constexpr int kDefaultIntervalSeconds = 30;

QString fromStd(const std::string& s)
{
    return QString::fromStdString(s);
}

} // namespace

QString ProjectController::intervalSettingKey()
{
    return QStringLiteral("autosave/intervalSeconds");
}

int ProjectController::autosaveInterval()
{
    const double seconds =
        QSettings().value(intervalSettingKey(), kDefaultIntervalSeconds).toDouble();
    return std::max(50, int(seconds * 1000.0));
}

ProjectController::ProjectController(MainWindow* window, ReviewController* review)
    : QObject(window), m_window(window), m_review(review)
{
    m_session = QStringLiteral("%1-%2")
                    .arg(QCoreApplication::applicationPid())
                    .arg(QDateTime::currentMSecsSinceEpoch());
    m_autosaveTimer = new QTimer(this);
    m_autosaveTimer->setSingleShot(true);
    connect(m_autosaveTimer, &QTimer::timeout, this, &ProjectController::autosaveNow);
    m_loose = new LooseCorrections(m_window->labelEditor(), m_window->imageList(), this);
    m_loose->setFolder(fromStd(untitledCorrectionsFolder(m_session.toStdString())));
    connect(m_loose, &LooseCorrections::edited, this, &ProjectController::markDirty);
    connect(m_loose, &LooseCorrections::problem, m_window, &MainWindow::showError);
    connect(m_window->imageList(), &ImageListWidget::currentPathChanged, m_loose,
            &LooseCorrections::flush);
    connect(m_review, &ReviewController::edited, this, &ProjectController::markDirty);
    connect(m_review, &ReviewController::imageSwitched, this, [this] {
        if (m_dirty)
            autosaveNow();
    });
    connect(m_review, &ReviewController::metricsReady, this, [this] {
        if (m_applying)
            finishApply();
    });
    connect(m_review, &ReviewController::opened, this, [this](bool ok) {
        if (!ok) {
            m_applying.reset();
            return;
        }
        // The checkpoint's SHA-256 identifies the backbone in the project; big
        // checkpoints take seconds to hash, so off the GUI thread.
        m_checkpointSha256.clear();
        if (!m_review->hasRun())
            return;
        try {
            const FitRunFolder folder = readFitRunFolder(m_review->runDir().toStdString());
            const QString weights = fromStd(folder.settings.weights);
            if (weights.isEmpty())
                return;
            auto* watcher = new QFutureWatcher<QString>(this);
            connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
                m_checkpointSha256 = watcher->result();
                watcher->deleteLater();
            });
            watcher->setFuture(runInBackground([weights] { return sha256OfFile(weights); }));
        } catch (const std::exception&) {
            // The run opened, so run.json was readable a moment ago; nothing to add.
        }
        if (m_applying && !m_review->hasRun())
            finishApply();
    });

    QMenu* file = m_window->fileMenu();
    if (file) {
        // After the other open actions, in a group of its own.
        QAction* before = m_window->fileOpenSeparator();
        auto* openAction = new QAction(tr("Open &Project\u2026"), this);
        openAction->setToolTip(tr("Open a *.primaps project: its run or dataset, classes, "
                                  "match edits and corrections"));
        connect(openAction, &QAction::triggered, this, &ProjectController::openDialog);
        m_saveAction = new QAction(tr("&Save Project"), this);
        m_saveAction->setShortcut(QKeySequence::Save);
        connect(m_saveAction, &QAction::triggered, this, [this] {
            if (m_path.isEmpty())
                saveAsDialog();
            else
                save(m_path);
        });
        auto* saveAs = new QAction(tr("Save Project &As\u2026"), this);
        saveAs->setShortcut(QKeySequence::SaveAs);
        connect(saveAs, &QAction::triggered, this, &ProjectController::saveAsDialog);
        file->insertAction(before, openAction);
        file->insertAction(before, m_saveAction);
        file->insertAction(before, saveAs);
        file->insertSeparator(before);
    }
    m_window->installEventFilter(this);
    connect(qApp, &QCoreApplication::aboutToQuit, this, &ProjectController::closeCleanly);
}

ProjectController::~ProjectController() = default;

Project ProjectController::currentProject() const
{
    Project p;
    const std::shared_ptr<const Dataset> dataset = m_review->job()->dataset();
    if (dataset) {
        p.hasDataset = true;
        p.dataset.kind = dataset->kind();
        p.dataset.root = dataset->root();
        p.dataset.split = dataset->split();
        p.dataset.classes = dataset->classCount();
    } else {
        for (const QString& image : m_window->imageList()->paths())
            p.images.push_back(image.toStdString()); // loose images, without a dataset
    }
    p.runDir = m_review->runDir().toStdString();
    if (!p.runDir.empty()) {
        try {
            const FitRunFolder folder = readFitRunFolder(p.runDir);
            p.backbone = folder.settings.backbone;
            p.checkpoint = folder.settings.weights;
            p.parameters.resolution = folder.settings.resolution;
            p.parameters.threshold = folder.settings.threshold;
            p.parameters.maskCrf = folder.settings.maskCrf;
        } catch (const std::exception&) {
            // Reported when the run was opened; the project keeps what it knows.
        }
        p.checkpointSha256 = m_checkpointSha256.toStdString();
        p.correctionsDir = CorrectionStore::runFolder(p.runDir);
        p.matchEdits = m_window->evaluationView()->matchEdits();
    } else if (!p.hasDataset) {
        p.correctionsDir = m_loose->folder().toStdString();
        // The corrections are relative to the decomposition: the next opening
        // must decompose alike.
        p.parameters.threshold =
            m_window->usesRecommendedThreshold() ? 0.0f : float(m_window->threshold());
        p.parameters.maskCrf = m_window->isCrfEnabled();
    }
    p.parameters.theta = m_review->prediction().theta;
    p.parameters.predictionCrf = m_review->prediction().crf;
    p.classes = m_review->classTable();
    if (m_review->currentIndex() >= 0)
        p.currentImage = m_review->browser()->model()->idAt(m_review->currentIndex()).toStdString();
    return p;
}

QString ProjectController::autosavePath() const
{
    return m_path.isEmpty() ? fromStd(untitledAutosavePath(m_session.toStdString()))
                            : fromStd(projectAutosavePath(m_path.toStdString()));
}

void ProjectController::markDirty()
{
    if (m_applying)
        return; // a project being applied is not an edit
    m_dirty = true;
    if (!m_autosaveTimer->isActive())
        m_autosaveTimer->start(autosaveInterval());
    if (m_saveAction)
        m_saveAction->setEnabled(true);
}

bool ProjectController::autosaveNow()
{
    m_autosaveTimer->stop();
    if (!m_dirty)
        return true;
    const bool flushed = m_review->flushCorrections() && m_loose->flush();
    try {
        writeAutosave(autosavePath().toStdString(), currentProject(), m_path.toStdString());
    } catch (const std::exception& e) {
        m_window->showError(tr("Autosave failed: %1").arg(fromStd(e.what())));
        return false;
    }
    m_dirty = !flushed;
    m_window->statusBar()->showMessage(
        tr("Autosaved %1").arg(QDir::toNativeSeparators(autosavePath())), 3000);
    emit autosaved(autosavePath());
    return flushed;
}

bool ProjectController::save(const QString& path)
{
    m_review->flushCorrections();
    const QString oldAutosave = autosavePath();
    const QString oldPath = m_path;
    const QString newPath = QFileInfo(path).absoluteFilePath();
    // Loose images' corrections live beside the project file: they follow it.
    if (isLoose() &&
        !m_loose->moveTo(fromStd(CorrectionStore::projectFolder(newPath.toStdString()))))
        return false; // reported
    try {
        m_path = newPath;
        writeProject(m_path.toStdString(), currentProject());
    } catch (const std::exception& e) {
        m_path = oldPath;
        m_window->showError(fromStd(e.what()));
        return false;
    }
    removeAutosave(oldAutosave.toStdString());
    removeAutosave(autosavePath().toStdString());
    m_dirty = false;
    m_autosaveTimer->stop();
    m_window->statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(m_path)), 5000);
    return true;
}

bool ProjectController::open(const QString& path)
{
    Project project;
    try {
        project = readProject(QFileInfo(path).absoluteFilePath().toStdString());
    } catch (const std::exception& e) {
        m_window->showError(fromStd(e.what()));
        return false;
    }
    m_path = QFileInfo(path).absoluteFilePath();
    // Files the project names that are gone (a moved folder, another machine): said
    // once, up front, instead of as whatever fails first while it is applied.
    if (const std::vector<DatasetProblem> missing = projectFileProblems(project);
        !missing.empty()) {
        QStringList lines;
        for (const DatasetProblem& problem : missing)
            lines << fromStd(problem.message);
        m_window->showError(tr("%1: %2").arg(QDir::toNativeSeparators(m_path), lines.join("; ")));
    }
    const QString autosave = autosavePath();
    if (QFileInfo(autosave).exists() &&
        QFileInfo(autosave).lastModified() >= QFileInfo(m_path).lastModified()) {
        try {
            const Autosave saved = readAutosave(autosave.toStdString());
            const bool restore = m_restoreQuestion
                                     ? m_restoreQuestion(saved)
                                     : QMessageBox::question(
                                           m_window, tr("Restore Unsaved Changes"),
                                           tr("%1 has changes from %2 that were autosaved but "
                                              "never saved (the studio did not close). Restore "
                                              "them?")
                                               .arg(QFileInfo(m_path).fileName(),
                                                    fromStd(saved.written))) == QMessageBox::Yes;
            if (restore)
                project = saved.project;
            else
                removeAutosave(autosave.toStdString());
        } catch (const std::exception& e) {
            m_window->showError(fromStd(e.what()));
        }
    }
    apply(project);
    return true;
}

void ProjectController::apply(const Project& project)
{
    m_applying = project;
    m_review->setPrediction(fromStd(project.parameters.theta), project.parameters.predictionCrf);
    if (!project.runDir.empty())
        m_review->openRun(fromStd(project.runDir),
                          project.hasDataset ? project.dataset : DatasetOptions());
    else if (project.hasDataset)
        m_review->openDataset(project.dataset);
    else {
        m_loose->setFolder(fromStd(
            !project.correctionsDir.empty() ? project.correctionsDir
            : m_path.isEmpty() ? untitledCorrectionsFolder(m_session.toStdString())
                               : CorrectionStore::projectFolder(m_path.toStdString())));
        if (project.parameters.threshold > 0.0f)
            m_window->setThreshold(project.parameters.threshold);
        m_window->crfAction()->setChecked(project.parameters.maskCrf);
        QStringList images;
        for (const std::string& image : project.images)
            images << fromStd(image);
        if (!images.isEmpty())
            m_window->openPaths(images);
        finishApply();
    }
}

void ProjectController::finishApply()
{
    const Project project = *m_applying;
    if (m_review->hasRun()) {
        if (project.classes.size() == m_review->classTable().size())
            m_review->setClassTable(project.classes);
        if (m_window->evaluationView()->hasReport())
            m_window->evaluationView()->setMatchEdits(project.matchEdits);
    }
    if (!project.currentImage.empty())
        m_review->selectImage(fromStd(project.currentImage));
    m_applying.reset();
    m_dirty = false;
    emit projectApplied();
}

bool ProjectController::offerRecovery()
{
    std::vector<DatasetProblem> problems;
    const std::vector<Autosave> found = findUntitledAutosaves(&problems);
    for (const DatasetProblem& p : problems)
        m_window->showError(
            tr("An autosave cannot be read: %1: %2").arg(fromStd(p.path), fromStd(p.message)));
    if (found.empty())
        return false;
    const Autosave& newest = found.front();
    const bool restore =
        m_restoreQuestion
            ? m_restoreQuestion(newest)
            : QMessageBox::question(
                  m_window, tr("Restore After a Crash"),
                  tr("PriMaPs Studio did not close properly. Restore the work autosaved at %1 "
                     "(%2)?")
                      .arg(fromStd(newest.written),
                           newest.project.runDir.empty() ? tr("no run")
                                                         : fromStd(newest.project.runDir))) ==
                  QMessageBox::Yes;
    // Either way it has been dealt with: restored work autosaves under this session,
    // and corrections of loose images not restored are dropped with their autosave.
    for (const Autosave& a : found) {
        removeAutosave(a.path);
        if ((!restore || &a != &newest) && isUntitledCorrectionsFolder(a.project.correctionsDir))
            QDir(fromStd(a.project.correctionsDir)).removeRecursively();
    }
    if (!restore)
        return false;
    apply(newest.project);
    return true;
}

void ProjectController::closeCleanly()
{
    m_review->flushCorrections();
    m_loose->flush();
    m_autosaveTimer->stop();
    if (m_path.isEmpty() && isUntitledCorrectionsFolder(m_loose->folder().toStdString()))
        QDir(m_loose->folder()).removeRecursively(); // untitled work ends with a clean close
    if (m_path.isEmpty() || !m_dirty)
        removeAutosave(autosavePath().toStdString());
    else
        autosaveNow(); // a named project with unsaved changes keeps them for its next opening
}

bool ProjectController::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_window && event->type() == QEvent::Close) {
        // After the window's own handler: only a close that happens counts.
        QTimer::singleShot(0, this, [this] {
            if (!m_window->isVisible())
                closeCleanly();
        });
    }
    return QObject::eventFilter(watched, event);
}

bool ProjectController::isLoose() const
{
    return !m_review->hasRun() && !m_review->job()->dataset();
}

void ProjectController::openDialog()
{
    const QString path = QFileDialog::getOpenFileName(
        m_window, tr("Open Project"), QString(), tr("PriMaPs projects (*.primaps)"));
    if (!path.isEmpty())
        open(path);
}

void ProjectController::saveAsDialog()
{
    QString path = QFileDialog::getSaveFileName(m_window, tr("Save Project As"), m_path,
                                                tr("PriMaPs projects (*.primaps)"));
    if (path.isEmpty())
        return;
    if (!path.endsWith(QLatin1String(".primaps")))
        path += QLatin1String(".primaps");
    save(path);
}

} // namespace primaps
