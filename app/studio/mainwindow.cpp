// SPDX-License-Identifier: MIT
// The window: the shared centre, menus and status bar, the perspectives, the settings.
// Images in (drops, the open dialogs, the bundled samples) are in mainwindowfiles.cpp.
#include "mainwindow.h"

#include "common/threadpriority.h"

#include "annotateperspective.h"
#include "backbonehint.h"
#include "evaluateperspective.h"
#include "fitperspective.h"
#include "messagelog.h"
#include "perspectives.h"
#include "playbackpanel.h"
#include "projectcontroller.h"
#include "reviewcontroller.h"
#include "similaritycontroller.h"

#include "annotate/labeleditor.h"
#include "common/messagewidget.h"
#include "explore/canvaswidget.h"
#include "explore/legendwidget.h"
#include "fit/fitmonitorwidget.h"
#include "support/runtime.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QVBoxLayout>

namespace primaps {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("PriMaPs Studio"));
    setWindowIcon(QIcon(QStringLiteral(":/primaps/icons/primaps-studio-256.png")));
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks);
    // OpenBLAS's threads, started when the library was loaded, compute for the
    // workers: below the GUI thread like them.
    lowerLibraryThreadPriority();

    createCentralArea();
    m_annotate = new AnnotatePerspective(this);
    m_statusMessage = new QLabel(this);
    m_statusMessage->setTextFormat(Qt::PlainText);
    // It yields to the permanent widgets on the right (its tool tip keeps the
    // whole text) instead of being drawn under them.
    m_statusMessage->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_statusMessage->setMinimumWidth(40);
    statusBar()->addWidget(m_statusMessage, 1);

    // Each perspective adds its docks, then its menus, then its tool bars.
    m_explore = new ExplorePerspective(this);
    connect(m_explore, &ExplorePerspective::decompositionShown, this,
            &MainWindow::decompositionShown);
    connect(m_explore, &ExplorePerspective::exportFinished, this, &MainWindow::exportFinished);
    m_fit = new FitPerspective(this);
    m_evaluate = new EvaluatePerspective(this, m_fit->dock());
    connect(m_fit, &FitPerspective::finished, m_evaluate, &EvaluatePerspective::setLastFinishedRun);
    createMenus();
    m_explore->createToolBar();
    m_annotate->createToolBar();

    installMessageLog(this);
    m_review = new ReviewController(this);
    m_project = new ProjectController(this, m_review);
    m_playback = new PlaybackPanel(this);
    m_similarity = new SimilarityController(this);

    m_perspectives = new PerspectiveController(this);
    resize(m_perspectives->defaultWindowSize());
    m_perspectives->applyInitial();
    connect(m_perspectives, &PerspectiveController::perspectiveChanged, this,
            &MainWindow::updatePerspectiveStatus);
    updatePerspectiveStatus();
    new BackboneHint(this); // first contact without DINO weights
    m_explore->updateActions();
    m_canvas->setFocus();
}

MainWindow::~MainWindow()
{
    // Stop the worker before the widgets its results would go to disappear.
    m_explore->stopJob();
}

void MainWindow::createCentralArea()
{
    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    m_messages = new MessageWidget(central);
    auto* messageMargin = new QHBoxLayout;
    messageMargin->setContentsMargins(6, 6, 6, 6);
    messageMargin->addWidget(m_messages);
    layout->addLayout(messageMargin);
    m_canvas = new CanvasWidget(central);
    // Drops on the picture go to the window, which adds them to the list.
    m_canvas->setAcceptDrops(false);
    m_canvas->viewport()->setAcceptDrops(false);
    m_canvas->setPlaceholderText(
        tr("Open images with File \u25b8 Open Images\u2026 (Ctrl+O),\nor drop images or "
           "folders anywhere in this window."));
    layout->addWidget(m_canvas, 1);
    m_legend = new LegendWidget(central);
    layout->addWidget(m_legend);
    setCentralWidget(central);
}

QDockWidget* MainWindow::addStudioDock(const QString& title, const QString& objectName,
                                       QWidget* content, Qt::DockWidgetArea area)
{
    auto* dock = new QDockWidget(title, this);
    dock->setObjectName(objectName);
    dock->setWidget(content);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetClosable |
                      QDockWidget::DockWidgetFloatable);
    addDockWidget(area, dock);
    return dock;
}

void MainWindow::createMenus()
{
    m_fileMenu = menuBar()->addMenu(tr("&File"));
    QAction* open = m_fileMenu->addAction(tr("&Open Images\u2026"), this,
                                          &MainWindow::openImagesDialog);
    open->setShortcut(QKeySequence::Open);
    open->setStatusTip(tr("Add image files to the list"));
    QAction* openFolder =
        m_fileMenu->addAction(tr("Open &Folder\u2026"), this, &MainWindow::openFolderDialog);
    // Ctrl+Shift+O is Open Run… (Review); a folder of images is Ctrl+Alt+O.
    openFolder->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
    openFolder->setStatusTip(tr("Add every image in a folder to the list"));
    m_fileOpenSeparator = m_fileMenu->addSeparator();
    m_explore->addFileActions(m_fileMenu);
    m_annotate->addFileActions(m_fileMenu);
    m_fileMenu->addSeparator();
    QAction* quit = m_fileMenu->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    m_annotate->createMenu();
    m_viewMenu = menuBar()->addMenu(tr("&View"));
    m_explore->addViewActions(m_viewMenu);
    m_viewMenu->addAction(m_fit->dock()->toggleViewAction());
    m_viewMenu->addAction(m_evaluate->dock()->toggleViewAction());

    m_explore->createDecomposeMenu();
    m_fit->createMenu();
    m_evaluate->createMenu();

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("&About PriMaPs Studio"), this, &MainWindow::showAbout);
    about->setMenuRole(QAction::AboutRole);
    QAction* aboutQt = help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    aboutQt->setMenuRole(QAction::AboutQtRole);
}

LabelEditor* MainWindow::labelEditor() const
{
    return m_annotate->editor();
}

FitMonitorWidget* MainWindow::fitMonitor() const
{
    return m_fit->monitor();
}

EvaluationWidget* MainWindow::evaluationView() const
{
    return m_evaluate->view();
}

QAction* MainWindow::evaluateLastFitAction() const
{
    return m_evaluate->evaluateLastFitAction();
}

void MainWindow::displayStatus(const QString& message, StatusKind kind)
{
    m_statusMessage->setStyleSheet(kind == StatusKind::Error ? QStringLiteral("color: #b3261e;")
                                                             : QString());
    m_statusMessage->setText(message);
    m_statusMessage->setToolTip(message); // the label may be narrower than its text
}

void MainWindow::showStatus(const QString& message, StatusKind kind, StatusOwner owner)
{
    using P = PerspectiveController::Perspective;
    const P current = m_perspectives ? m_perspectives->current() : P::Explore;
    const bool exploreShown = current == P::Explore || current == P::Annotate;
    switch (owner) {
    case StatusOwner::Any:
        displayStatus(message, kind);
        return;
    case StatusOwner::Explore:
        m_exploreStatus = {message, kind};
        if (exploreShown)
            displayStatus(message, kind);
        return;
    case StatusOwner::Fit:
        m_fitStatus = {message, kind};
        if (current == P::Fit)
            displayStatus(message, kind);
        return;
    }
}

QString MainWindow::statusText() const
{
    return m_statusMessage->text();
}

void MainWindow::updatePerspectiveStatus()
{
    using P = PerspectiveController::Perspective;
    const P current = m_perspectives->current();
    const bool exploreShown = current == P::Explore || current == P::Annotate;
    // The image's statistics belong to Explore's image: in Review another
    // image is on the canvas, in Fit and Evaluate none of Explore's.
    m_explore->statusWidget()->setVisible(exploreShown);
    m_explore->setDecomposeControlsVisible(exploreShown);
    const OwnedStatus none;
    const OwnedStatus& owned =
        exploreShown ? m_exploreStatus : current == P::Fit ? m_fitStatus : none;
    displayStatus(owned.text, owned.kind);
}

void MainWindow::showError(const QString& message)
{
    m_messages->showMessage(message);
    showStatus(message, StatusKind::Error);
}

void MainWindow::restoreSettings()
{
    // The arrangement first: restoreGeometry() keeps the window at least as large
    // as the minimum size of the docks on display, and until now those are the
    // default Explore's, wider than many a perspective's (and a window's) own.
    m_perspectives->restoreSettings(); // each perspective's dock arrangement
    QSettings settings;
    if (settings.contains(QStringLiteral("window/geometry")))
        restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    m_annotate->updateToolBar();
    m_explore->restoreSettings();
}

void MainWindow::setPersistSettings(bool persist)
{
    m_persistSettings = persist;
    m_perspectives->setPersist(persist);
}

void MainWindow::writeSettings()
{
    QSettings().setValue(QStringLiteral("window/geometry"), saveGeometry());
    m_perspectives->saveCurrent();
    m_explore->writeSettings();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (!m_annotate->readyToClose() || !m_fit->readyToClose()) {
        event->ignore();
        return;
    }
    if (m_persistSettings)
        writeSettings();
    event->accept();
}

void MainWindow::showAbout()
{
    QMessageBox::about(
        this, tr("About PriMaPs Studio"),
        tr("<h3>PriMaPs Studio %1</h3>"
           "<p>Unsupervised segmentation with Principal Mask Proposals (PriMaPs): "
           "O. Hahn, N. Araslanov, S. Schaub-Meyer, S. Roth, <i>Boosting Unsupervised "
           "Semantic Segmentation with Principal Mask Proposals</i>, TMLR 2024.</p>"
           "<p>Built with %2 and Qt %3 (running on Qt %4).</p>"
           "<p>The bundled sample photos are in the public domain or CC0; their sources are "
           "listed in resources/samples/NOTICE.</p>")
            .arg(QString::fromStdString(versionString()),
                 QString::fromStdString(buildDescription()).toHtmlEscaped(),
                 QStringLiteral(QT_VERSION_STR), QString::fromLatin1(qVersion())));
}

} // namespace primaps
