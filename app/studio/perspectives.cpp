// SPDX-License-Identifier: MIT
#include "perspectives.h"

#include "annotate/labeleditor.h"
#include "mainwindow.h"
#include "reviewcontroller.h"
#include "review/reviewjob.h"

#include <algorithm>
#include <QAction>
#include <QDockWidget>
#include <QEvent>
#include <QMenu>
#include <QMenuBar>
#include <QScreen>
#include <QSettings>
#include <QTabBar>
#include <QTimer>
#include <QToolBar>

namespace primaps {

namespace {

using Perspective = PerspectiveController::Perspective;

// Object names of the docks and tool bars (what saveState() knows them by).
const QString kImages = QStringLiteral("ImagesDock");
const QString kDataset = QStringLiteral("DatasetDock");
const QString kSteps = QStringLiteral("StepsDock");
const QString kFeatures = QStringLiteral("FeaturesDock");
const QString kVote = QStringLiteral("MaskVoteDock");
const QString kFit = QStringLiteral("FitDock");
const QString kEvaluation = QStringLiteral("EvaluationDock");
const QString kPlayback = QStringLiteral("PlaybackDock");
const QString kDecomposeBar = QStringLiteral("DecompositionToolBar");
const QString kReviewBar = QStringLiteral("ReviewToolBar");
const QString kEditBar = QStringLiteral("LabelEditToolBar");

struct Info
{
    Perspective perspective;
    const char* name;
    const char* title;
    const char* tip;
};

const Info kInfo[] = {
    {Perspective::Explore, "explore", QT_TRANSLATE_NOOP("PerspectiveController", "Explore"),
     QT_TRANSLATE_NOOP(
         "PerspectiveController",
         "Decompose single images: the masks, the PriMaPs steps and the feature space")},
    {Perspective::Review, "review", QT_TRANSLATE_NOOP("PerspectiveController", "Review"),
     QT_TRANSLATE_NOOP(
         "PerspectiveController",
         "Page through a dataset or a fitted run: pseudo-labels, predictions, errors")},
    {Perspective::Fit, "fit", QT_TRANSLATE_NOOP("PerspectiveController", "Fit"),
     QT_TRANSLATE_NOOP("PerspectiveController", "Fit class prototypes and watch the EM fit")},
    {Perspective::Evaluate, "evaluate", QT_TRANSLATE_NOOP("PerspectiveController", "Evaluate"),
     QT_TRANSLATE_NOOP("PerspectiveController",
                       "Scores, confusion matrix and the cluster-to-class match of a run")},
    {Perspective::Annotate, "annotate", QT_TRANSLATE_NOOP("PerspectiveController", "Annotate"),
     QT_TRANSLATE_NOOP("PerspectiveController", "Correct labels with brush, fill and eraser")},
};

} // namespace

QList<Perspective> PerspectiveController::all()
{
    QList<Perspective> list;
    for (const Info& info : kInfo)
        list << info.perspective;
    return list;
}

QString PerspectiveController::name(Perspective perspective)
{
    return QString::fromLatin1(kInfo[int(perspective)].name);
}

QString PerspectiveController::title(Perspective perspective)
{
    return tr(kInfo[int(perspective)].title);
}

bool PerspectiveController::fromName(const QString& name, Perspective* perspective)
{
    for (const Info& info : kInfo)
        if (name.compare(QLatin1String(info.name), Qt::CaseInsensitive) == 0) {
            *perspective = info.perspective;
            return true;
        }
    return false;
}

QString PerspectiveController::settingsKey(Perspective perspective)
{
    return QStringLiteral("perspectives/%1/state").arg(name(perspective));
}

PerspectiveController::PerspectiveController(MainWindow* window) : QObject(window), m_window(window)
{
    m_tabs = new QTabBar(window);
    m_tabs->setObjectName(QStringLiteral("PerspectiveTabs"));
    m_tabs->setDrawBase(false);
    m_tabs->setExpanding(false);
    m_tabs->setDocumentMode(true);
    for (const Info& info : kInfo) {
        const int index = m_tabs->addTab(tr(info.title));
        m_tabs->setTabToolTip(index, QStringLiteral("%1 (Ctrl+F%2)\n%3")
                                         .arg(tr(info.title))
                                         .arg(index + 1)
                                         .arg(tr(info.tip)));
    }
    // In the menu bar's corner: a perspective switch costs no row of its own.
    m_window->menuBar()->setCornerWidget(m_tabs, Qt::TopRightCorner);
    connect(m_tabs, &QTabBar::currentChanged, this, [this](int index) {
        if (!m_switching && index >= 0)
            setCurrent(Perspective(index));
    });
    for (const Info& info : kInfo) {
        auto* action = new QAction(tr(info.title), m_window);
        action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_F1 + int(info.perspective))));
        action->setShortcutContext(Qt::ApplicationShortcut);
        const Perspective p = info.perspective;
        connect(action, &QAction::triggered, this, [this, p] { setCurrent(p); });
        m_window->addAction(action);
    }
    m_window->viewMenu()->addSeparator();
    QAction* reset = m_window->viewMenu()->addAction(tr("&Reset Perspective Layout"), this,
                                                     &PerspectiveController::resetLayout);
    reset->setStatusTip(tr("Back to the default docks of the current perspective"));
    // The side columns run the full height, so that a dock below the canvas
    // takes its height from the canvas, not from them.
    m_window->setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    m_window->setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    m_window->installEventFilter(this);
    for (QDockWidget* d : m_window->findChildren<QDockWidget*>())
        d->installEventFilter(this);
}

QDockWidget* PerspectiveController::dock(const QString& objectName) const
{
    return m_window->findChild<QDockWidget*>(objectName, Qt::FindDirectChildrenOnly);
}

QRect PerspectiveController::availableGeometry() const
{
    if (m_override.isValid())
        return m_override;
    QScreen* screen = m_window->screen();
    return screen ? screen->availableGeometry() : QRect(0, 0, 1366, 768);
}

void PerspectiveController::fitToScreen()
{
    m_fitScheduled = false;
    const QRect area = availableGeometry();
    const QRect frame = m_window->frameGeometry();
    const QRect inner = m_window->geometry();
    const QMargins margins(inner.left() - frame.left(), inner.top() - frame.top(),
                           frame.right() - inner.right(), frame.bottom() - inner.bottom());
    const QSize room = area.size().shrunkBy(margins);
    const QSize size = inner.size().boundedTo(room);
    if (size != inner.size())
        m_window->resize(size);
    QRect target(frame.topLeft(), size.grownBy(margins));
    if (target.right() > area.right())
        target.moveRight(area.right());
    if (target.bottom() > area.bottom())
        target.moveBottom(area.bottom());
    if (target.left() < area.left())
        target.moveLeft(area.left());
    if (target.top() < area.top())
        target.moveTop(area.top());
    if (target.topLeft() != frame.topLeft())
        m_window->move(target.topLeft());
}

void PerspectiveController::scheduleFit()
{
    if (m_fitScheduled)
        return;
    m_fitScheduled = true;
    QTimer::singleShot(0, this, &PerspectiveController::fitToScreen);
}

bool PerspectiveController::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_window && event->type() == QEvent::Show && m_sizeOnShow) {
        m_sizeOnShow = false;
        QTimer::singleShot(0, this, [this] {
            if (!m_states.count(m_current))
                resizeDefaultDocks();
        });
    }
    // A dock that appears, or a layout that asks for more room, must not push
    // the window past the screen: it gives the room back at once.
    switch (event->type()) {
    case QEvent::Resize:
    case QEvent::Move:
    case QEvent::Show:
    case QEvent::LayoutRequest:
        if (watched == m_window || qobject_cast<QDockWidget*>(watched)) {
            const QRect area = availableGeometry();
            if (!area.contains(m_window->frameGeometry()))
                scheduleFit();
        }
        break;
    default:
        break;
    }
    return QObject::eventFilter(watched, event);
}

void PerspectiveController::saveCurrent()
{
    const QByteArray state = m_window->saveState();
    m_states[m_current] = state;
    if (m_persist) {
        QSettings settings;
        settings.setValue(settingsKey(m_current), state);
        settings.setValue(QStringLiteral("perspectives/current"), name(m_current));
    }
}

void PerspectiveController::setCurrent(Perspective perspective)
{
    if (perspective == m_current)
        return;
    saveCurrent();
    switchTo(perspective);
}

void PerspectiveController::switchTo(Perspective perspective)
{
    m_switching = true;
    const Perspective previous = m_current;
    m_current = perspective;
    m_tabs->setCurrentIndex(int(perspective));
    const auto saved = m_states.find(perspective);
    if (saved == m_states.end() || !m_window->restoreState(saved->second))
        applyDefault(perspective);
    // What a perspective is for, whatever its saved arrangement.
    LabelEditor* editor = m_window->labelEditor();
    if (perspective == Perspective::Annotate)
        editor->setEditMode(true);
    else if (previous == Perspective::Annotate)
        editor->setEditMode(false);
    editor->toolBar()->setVisible(editor->isEditMode());
    if (QToolBar* review = m_window->findChild<QToolBar*>(kReviewBar))
        review->setVisible(review->isVisible() && m_window->reviewController()->job()->dataset());
    m_switching = false;
    fitToScreen();
    emit perspectiveChanged(perspective);
}

void PerspectiveController::showDock(Perspective perspective, QDockWidget* dock)
{
    // Unless the user looks at the dataset next to it.
    if (m_current != Perspective::Review)
        setCurrent(perspective);
    dock->show();
    dock->raise();
}

void PerspectiveController::resetLayout()
{
    m_states.erase(m_current);
    if (m_persist)
        QSettings().remove(settingsKey(m_current));
    applyDefault(m_current);
    fitToScreen();
}

void PerspectiveController::restoreSettings()
{
    QSettings settings;
    for (Perspective p : all()) {
        const QByteArray state = settings.value(settingsKey(p)).toByteArray();
        if (!state.isEmpty())
            m_states[p] = state;
    }
    Perspective last = Perspective::Explore;
    fromName(settings.value(QStringLiteral("perspectives/current")).toString(), &last);
    switchTo(last); // nothing to save: the window shows the defaults until now
}

bool PerspectiveController::featuresOnTheLeft() const
{
    return availableGeometry().height() >= 1000;
}

QSize PerspectiveController::defaultWindowSize() const
{
    // Most of a large screen, all of a small one.
    const QSize area = availableGeometry().size();
    return QSize(1400, 900).expandedTo(area * 0.94).boundedTo(area);
}

void PerspectiveController::applyInitial()
{
    applyDefault(m_current);
    fitToScreen();
    m_sizeOnShow = true; // dock sizes take once the window is laid out
}

void PerspectiveController::applyDefault(Perspective perspective)
{
    const bool hasDataset = m_window->reviewController()->job()->dataset() != nullptr;
    const bool hasRun = m_window->reviewController()->hasRun();
    QStringList docks;
    QStringList bars;
    switch (perspective) {
    case Perspective::Explore:
        // Playback under the canvas it draws on: a demo plays the steps there.
        // Its row of controls needs ~500 px beside the side columns: on a
        // screen narrower than a laptop's it stays in View ▸ Playback.
        docks = {kImages, kSteps, kFeatures};
        if (availableGeometry().width() >= 1280)
            docks << kPlayback;
        bars = {kDecomposeBar};
        break;
    case Perspective::Review:
        docks = {hasDataset ? kDataset : kImages};
        if (hasRun)
            docks << kVote;
        bars = {kDecomposeBar, kReviewBar};
        break;
    case Perspective::Fit:
        docks = {kFit};
        break;
    case Perspective::Evaluate:
        docks = {kEvaluation};
        if (hasDataset)
            bars = {kReviewBar};
        break;
    case Perspective::Annotate:
        docks = {hasDataset ? kDataset : kImages};
        bars = {kDecomposeBar, kEditBar};
        break;
    }
    // Every dock back to its home, then only this perspective's shown.
    struct Home
    {
        QString dock;
        Qt::DockWidgetArea area;
    };
    const Home homes[] = {
        {kImages, Qt::LeftDockWidgetArea},      {kDataset, Qt::LeftDockWidgetArea},
        {kSteps, Qt::RightDockWidgetArea},      {kFeatures, Qt::RightDockWidgetArea},
        {kVote, Qt::RightDockWidgetArea},       {kFit, Qt::BottomDockWidgetArea},
        {kEvaluation, Qt::BottomDockWidgetArea}, {kPlayback, Qt::BottomDockWidgetArea},
        {QStringLiteral("MessageLogDock"), Qt::BottomDockWidgetArea}};
    for (const Home& home : homes)
        if (QDockWidget* d = dock(home.dock)) {
            d->setFloating(false);
            m_window->addDockWidget(home.area, d);
        }
    auto pair = [this](const QString& a, const QString& b, bool tabbed) {
        QDockWidget* first = dock(a);
        QDockWidget* second = dock(b);
        if (!first || !second)
            return;
        if (tabbed)
            m_window->tabifyDockWidget(first, second);
        else
            m_window->splitDockWidget(first, second, Qt::Vertical);
    };
    // Splits before tabs: a dock split from a tabbed one would become a tab.
    if (featuresOnTheLeft()) {
        // A tall screen: the step list gets the whole right column (three
        // cards and more), the feature view the room under the image list.
        m_window->addDockWidget(Qt::LeftDockWidgetArea, dock(kFeatures));
        pair(kImages, kFeatures, false);
    } else {
        // A laptop's screen has no room for both under each other: tabs, the
        // step list in front.
        pair(kSteps, kFeatures, true);
    }
    pair(kImages, kDataset, true);
    pair(kFeatures, kVote, true);
    // Fit monitor and evaluation opened in Explore join the playback's tabs:
    // side by side under the canvas they would widen the window.
    pair(kPlayback, kFit, true);
    pair(kFit, kEvaluation, true);
    // The Message Log too: beside the playback it would need its own width
    // from under the canvas and narrow the side columns.
    pair(kEvaluation, QStringLiteral("MessageLogDock"), true);
    for (QDockWidget* d :
         m_window->findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
        d->setVisible(docks.contains(d->objectName()));
    for (QToolBar* bar : m_window->findChildren<QToolBar*>(QString(), Qt::FindDirectChildrenOnly))
        bar->setVisible(bars.contains(bar->objectName()) || bar->objectName().isEmpty());
    for (const QString& name : docks)
        if (QDockWidget* d = dock(name))
            d->raise();
    if (docks.contains(kSteps))
        dock(kSteps)->raise();

    resizeDefaultDocks();
}

void PerspectiveController::resizeDefaultDocks()
{
    QStringList docks;
    for (QDockWidget* d :
         m_window->findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
        if (!d->isHidden())
            docks << d->objectName();
    // Sizes from the window's, so that both a laptop and a large screen use their room.
    const QRect area = availableGeometry();
    const int width = std::min(m_window->width(), area.width());
    const int height = std::min(m_window->height(), area.height());
    QList<QDockWidget*> left, right;
    QList<int> leftWidth, rightWidth;
    const bool featuresLeft = featuresOnTheLeft() && docks.contains(kFeatures);
    for (const QString& name : {kImages, kDataset})
        if (docks.contains(name) && dock(name)) {
            left << dock(name);
            leftWidth << (featuresLeft ? std::clamp(width * 22 / 100, 200, 420)
                                       : std::clamp(width * 17 / 100, 200, 300));
        }
    for (const QString& name : {kSteps, kVote})
        if (docks.contains(name) && dock(name)) {
            right << dock(name);
            rightWidth << std::clamp(width * 27 / 100, 300, 480);
        }
    if (!left.isEmpty())
        m_window->resizeDocks(left, leftWidth, Qt::Horizontal);
    if (!right.isEmpty())
        m_window->resizeDocks(right, rightWidth, Qt::Horizontal);
    if (featuresLeft && docks.contains(kImages))
        m_window->resizeDocks({dock(kImages), dock(kFeatures)},
                              {height * 30 / 100, height * 70 / 100}, Qt::Vertical);
    for (const QString& name : {kFit, kEvaluation})
        if (docks.contains(name) && dock(name))
            m_window->resizeDocks({dock(name)}, {height * 62 / 100}, Qt::Vertical);
    // A strip of controls: no taller than it needs, the canvas keeps the rest.
    if (docks.contains(kPlayback) && dock(kPlayback))
        m_window->resizeDocks({dock(kPlayback)}, {dock(kPlayback)->sizeHint().height()},
                              Qt::Vertical);
}

} // namespace primaps
