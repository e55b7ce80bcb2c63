// SPDX-License-Identifier: MIT
// New Fit: what the dataset fields imply, looked up off the GUI thread once the
// fields rest (the split hint, the PCA cap, the validation default), and the
// hold-out and protocol controls that change it.
#include "fit/fitdialog.h"

#include "common/backgroundpool.h"
#include "dataset/defaultsplit.h"

#include <algorithm>
#include <cmath>
#include <QAbstractButton>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>

namespace primaps {

DatasetOptions FitDialog::datasetOptions() const
{
    DatasetOptions o;
    o.kind = datasetKindFromString(m_kind->currentData().toString().toStdString());
    o.root = m_root->text().trimmed().toStdString();
    if (o.kind == DatasetKind::Folder) {
        o.classes = m_classes->value();
        o.holdout = holdoutFraction();
    }
    // An empty field: the split `primaps fit` would read (ROOT/train.txt when a
    // folder lists it), recorded in run.json by name.
    o.split = m_split->currentText().trimmed().toStdString();
    if (o.split.empty())
        o.split = defaultSplit(o, "train");
    return o;
}

double FitDialog::holdoutFraction() const
{
    // A run's recorded fraction, which the box shows rounded, stays exact: a
    // neighbouring fraction would hold out other images.
    const double shown = m_holdoutBox->value();
    const double scale = std::pow(10.0, m_holdoutBox->decimals());
    if (shown > 0.0 && std::round(m_exactHoldout * scale) / scale == shown)
        return m_exactHoldout;
    return shown;
}

bool FitDialog::isLookingUp() const
{
    return m_lookupTimer.isActive() || m_lookupsRunning > 0;
}

void FitDialog::scheduleLookup()
{
    // Every keystroke restarts the wait: a path typed character by character is
    // listed once, when the typing pauses.
    m_lookupTimer.start();
    // Fields edited while OK waited: the user is not done, OK is theirs again.
    if (m_acceptPending)
        setAcceptPending(false);
}

void FitDialog::onLookedUp()
{
    // Only the answer to the fields as they are now lets OK go on, and only
    // with the form as it was when OK was pressed: a field changed since (the
    // run folder half retyped) hands OK back to the user instead.
    if (!m_acceptPending || m_lookupTimer.isActive() ||
        m_answeredGeneration != m_lookupGeneration)
        return;
    // (No other modal window, e.g. a file dialog, in front of this one either.)
    const QWidget* modal = QApplication::activeModalWidget();
    const bool unchanged = formSnapshot() == m_pendingSnapshot && (!modal || modal == this);
    setAcceptPending(false);
    if (unchanged)
        accept();
}

QString FitDialog::formSnapshot() const
{
    // Every value a user can change, in widget order: enough to tell whether
    // anything changed while OK waited. Left out: the fields the lookup's
    // answer itself fills in (validation, its split, the PCA images cap).
    QStringList values;
    const QWidget* setByLookup[] = {m_validation, m_pcaImages}; // the split is in m_validation
    for (const QWidget* w : findChildren<QWidget*>()) {
        if (std::any_of(std::begin(setByLookup), std::end(setByLookup),
                        [w](const QWidget* f) { return w == f || f->isAncestorOf(w); }))
            continue;
        if (const auto* line = qobject_cast<const QLineEdit*>(w))
            values << line->text();
        else if (const auto* spin = qobject_cast<const QAbstractSpinBox*>(w))
            values << spin->text();
        else if (const auto* combo = qobject_cast<const QComboBox*>(w))
            values << QString::number(combo->currentIndex()) + combo->currentText();
        else if (const auto* box = qobject_cast<const QAbstractButton*>(w); box && box->isCheckable())
            values << QString::number(box->isChecked());
    }
    return values.join(QChar(0x1f));
}

void FitDialog::setAcceptPending(bool pending)
{
    m_acceptPending = pending;
    m_pendingSnapshot = pending ? formSnapshot() : QString();
    QPushButton* ok = m_buttons->button(QDialogButtonBox::Ok);
    // A disabled OK with the focus would hand it (and Enter) to Cancel.
    if (pending && ok->hasFocus())
        setFocus();
    ok->setEnabled(!pending);
    if (!pending)
        ok->setDefault(true);
    ok->setText(pending                ? tr("Checking the dataset\u2026")
                : resumesExistingRun() ? tr("Resume Fit")
                                       : tr("Start Fit"));
}

void FitDialog::startLookup()
{
    DatasetOptions o;
    o.kind = datasetKindFromString(m_kind->currentData().toString().toStdString());
    const QString root = m_root->text().trimmed();
    o.root = root.toStdString();
    o.split = m_split->currentText().trimmed().toStdString(); // "" until the worker resolves it
    if (o.kind == DatasetKind::Folder) {
        o.classes = m_classes->value();
        o.holdout = holdoutFraction();
    }
    const QString key = QStringList{QString::fromLatin1(toString(o.kind)), root,
                                    QString::fromStdString(o.split),
                                    QString::number(o.holdout, 'g', 17)}
                            .join(QLatin1Char('\n'));
    const quint64 generation = ++m_lookupGeneration; // older answers are dropped
    if (key == m_shownKey && !m_validationFollowsData) {
        m_answeredGeneration = generation;
        emit datasetLookedUp();
        return;
    }
    if (o.kind != DatasetKind::Folder || root.isEmpty()) {
        // Nothing to list: the benchmark layouts are listed in the fit's thread.
        Lookup nothing;
        if (o.kind == DatasetKind::Folder && o.holdout > 0.0) {
            nothing.defaultSplit = "train";
            nothing.defaultValidation = "val";
        }
        showLookup(key, nothing);
        return;
    }
    auto* watcher = new QFutureWatcher<Lookup>(this);
    ++m_lookupsRunning;
    connect(watcher, &QFutureWatcher<Lookup>::finished, this, [this, watcher, generation, key] {
        watcher->deleteLater();
        --m_lookupsRunning;
        if (generation == m_lookupGeneration)
            showLookup(key, watcher->result());
    });
    watcher->setFuture(runInBackground([o, root]() mutable {
        // Listed as the fit will list it (extensions, split lists, hold-out): a
        // directory listing, no image is decoded.
        Lookup found;
        found.defaultSplit = defaultSplit(o, "train");
        DatasetOptions validation = o;
        validation.split.clear();
        found.defaultValidation = defaultSplit(validation, "val");
        found.hasLabels = QFileInfo(QDir(root).filePath(QStringLiteral("labels"))).isDir();
        if (o.split.empty())
            o.split = found.defaultSplit;
        if (QFileInfo(QDir(root).filePath(QStringLiteral("images"))).isDir()) {
            try {
                found.images = int(Dataset::open(o).size());
            } catch (const std::exception&) {
                // e.g. a split list not written yet; validate() names it
            }
        }
        return found;
    }));
}

void FitDialog::showLookup(const QString& key, const Lookup& found)
{
    m_shownKey = key;
    m_answeredGeneration = m_lookupGeneration; // only the newest answer is shown
    applyLookup(found);
    emit datasetLookedUp();
}

void FitDialog::applyLookup(const Lookup& found)
{
    const bool folder = m_kind->currentIndex() == 0;
    // An empty Split field takes core's default (datasetOptions()); the hint
    // says which one, so that a folder's train.txt is not used unseen.
    QString hint;
    if (folder) {
        const QString split = QString::fromStdString(found.defaultSplit);
        hint = split.isEmpty()                ? tr("all images")
               : m_holdoutBox->value() > 0.0 ? tr("%1 (the hold-out's rest)").arg(split)
                                             : tr("%1 (the images %1.txt lists)").arg(split);
    }
    m_split->lineEdit()->setPlaceholderText(hint);

    if (folder && m_validationFollowsData) {
        m_validation->setChecked(found.hasLabels);
        m_valSplit->setCurrentText(found.defaultValidation.empty()
                                       ? QStringLiteral("all")
                                       : QString::fromStdString(found.defaultValidation));
    }
    m_validationFollowsData = false;

    // The defaults follow the data: no more PCA images than the split holds.
    const int images = folder ? found.images : -1;
    const QSignalBlocker capping(m_pcaImages); // a cap is not the user's choice
    m_pcaImages->setMaximum(images > 0 ? images : 1000000);
    m_pcaImages->setValue(std::min(m_pcaImagesWanted, m_pcaImages->maximum()));
    m_pcaImages->setToolTip(
        images > 0 ? tr("Images whose features are pooled for the PCA initialisation (the "
                        "split has %n image(s))",
                        nullptr, images)
                   : tr("Images whose features are pooled for the PCA initialisation"));
}

void FitDialog::onHoldoutChanged()
{
    if (m_kind->currentIndex() != 0)
        return;
    // With a hold-out a folder has two splits and no lists (core's rule).
    const bool held = m_holdoutBox->value() > 0.0;
    const QString split = m_split->currentText().trimmed();
    const QStringList splits = held ? QStringList{QString(), QStringLiteral("train"),
                                                  QStringLiteral("val")}
                                    : QStringList{QString(), QStringLiteral("all")};
    QStringList items;
    for (int i = 0; i < m_split->count(); ++i)
        items << m_split->itemText(i);
    if (items != splits) {
        const QSignalBlocker quiet(m_split);
        m_split->clear();
        m_split->addItems(splits);
        m_split->setCurrentText(split);
    }
    const QString validation = m_valSplit->currentText().trimmed();
    m_valSplit->clear();
    m_valSplit->addItems(held ? QStringList{QStringLiteral("val"), QStringLiteral("train")}
                              : QStringList{QStringLiteral("all")});
    if (held)
        m_valSplit->setCurrentText(QStringLiteral("val"));
    else if (validation != QLatin1String("val"))
        m_valSplit->setCurrentText(validation.isEmpty() ? QStringLiteral("all") : validation);
    else
        m_validationFollowsData = true; // the folder's val.txt, or the whole folder
    scheduleLookup();
}

void FitDialog::onProtocolChanged()
{
    const EmProtocol protocol =
        emProtocolFromString(m_protocol->currentData().toString().toStdString());
    const EmProtocol other =
        protocol == EmProtocol::Robust ? EmProtocol::Paper : EmProtocol::Robust;
    m_protocolNote->setText(protocol == EmProtocol::Robust
                                ? tr("Keeps every cluster alive; the default.")
                                : tr("The reference's procedure, to reproduce the paper."));
    // The learning rate follows the protocol unless the user chose another.
    if (std::abs(m_learningRate->value() - double(defaultLearningRate(other))) < 1e-9)
        m_learningRate->setValue(double(defaultLearningRate(protocol)));
    const bool whitens = protocol == EmProtocol::Robust;
    m_whitenRidge->setEnabled(whitens);
    if (!whitens)
        m_whitenRidge->setToolTip(tr("The paper's protocol never whitens the features."));
    else
        m_whitenRidge->setToolTip(m_whitenRidgeTip);
}

} // namespace primaps
