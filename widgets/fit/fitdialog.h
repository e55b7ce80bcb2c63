// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "runs/fitrun.h"

#include <QDialog>

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace primaps {

class MessageWidget;

/// Fit ▸ New Fit…: the dataset (the layouts the CLI reads), the run folder,
/// the backbone and mask settings, the method and the fit's parameters, and an
/// optional validation split. Defaults are the reference's (EmParams). A run
/// folder that already holds a fit is recognised: its settings are loaded and
/// OK resumes it, unless "Start over" is ticked.
///
/// accept() checks the input (folders exist, a folder dataset has images/, the
/// weights file exists, a validation split is named) and shows the first
/// problem in the dialog's banner instead of closing. Only cheap checks run
/// here; listing the dataset and loading the backbone happen in the fit's
/// thread, and their problems reach the fit monitor.
class FitDialog : public QDialog
{
    Q_OBJECT

public:
    explicit FitDialog(QWidget* parent = nullptr);

    DatasetOptions datasetOptions() const;
    FitRunSettings settings() const;
    /// Fills the dialog from a request (e.g. a run folder's run.json).
    void setRequest(const DatasetOptions& dataset, const FitRunSettings& settings);

    /// The first problem with the input, or an empty string when it can start.
    QString validate() const;
    /// What the dialog knows about the chosen run folder ("" when it is new).
    QString runFolderNote() const;
    bool resumesExistingRun() const { return m_existingRun && !isStartOver(); }
    bool isStartOver() const;

    /// Remembers the last request in QSettings / restores it (not done by the
    /// constructor, so tests start from the defaults).
    void saveRecent() const;
    void restoreRecent();

    QLineEdit* rootEdit() const { return m_root; }
    QComboBox* layoutBox() const { return m_kind; }
    QComboBox* splitBox() const { return m_split; }
    QSpinBox* pcaImagesBox() const { return m_pcaImages; }
    QLineEdit* runEdit() const { return m_run; }
    QLineEdit* weightsEdit() const { return m_weights; }
    MessageWidget* messageWidget() const { return m_messages; }

public slots:
    void accept() override;

private:
    void onKindChanged();
    /// The split an empty Split field stands for, as its hint.
    void showDefaultSplit();
    /// The images a folder dataset's chosen split holds, listed as the fit lists
    /// them (ROOT/images, a split list ROOT/<split>.txt, a run's hold-out); -1
    /// when unknown (another layout, no such folder or list yet).
    int folderImageCount() const;
    /// Caps the PCA images at the split's image count, and gives the value the
    /// user (or the request) asked for back when the data allows it again.
    void limitToFolderSize();
    void inspectRunFolder();
    void browseRoot();
    void browseRun();
    void browseWeights();
    void updateMethodControls();

    MessageWidget* m_messages = nullptr;
    QComboBox* m_kind = nullptr;
    QLineEdit* m_root = nullptr;
    QComboBox* m_split = nullptr;
    QSpinBox* m_datasetClasses = nullptr;
    QLineEdit* m_run = nullptr;
    QLabel* m_runNote = nullptr;
    QCheckBox* m_startOver = nullptr;
    QComboBox* m_backbone = nullptr;
    QLineEdit* m_weights = nullptr;
    QSpinBox* m_resolution = nullptr;
    QDoubleSpinBox* m_threshold = nullptr;
    QCheckBox* m_maskCrf = nullptr;
    QComboBox* m_method = nullptr;
    QSpinBox* m_classes = nullptr;
    QSpinBox* m_epochs = nullptr;
    QSpinBox* m_initEpochs = nullptr;
    QSpinBox* m_batch = nullptr;
    QSpinBox* m_seed = nullptr;
    QDoubleSpinBox* m_learningRate = nullptr;
    QDoubleSpinBox* m_whitenRidge = nullptr;
    QDoubleSpinBox* m_emaDecay = nullptr;
    QSpinBox* m_emaEvery = nullptr;
    QSpinBox* m_pcaImages = nullptr;
    QCheckBox* m_student = nullptr;
    QSpinBox* m_studentViews = nullptr;
    QSpinBox* m_checkpointEvery = nullptr;
    QGroupBox* m_validation = nullptr;
    QComboBox* m_valSplit = nullptr;
    QSpinBox* m_valEvery = nullptr;
    QDialogButtonBox* m_buttons = nullptr;
    int m_pcaImagesWanted = 0; ///< the user's or the request's value, before the cap
    // The last dataset folderImageCount() listed and its image count.
    mutable QString m_countedKey;
    mutable int m_countedImages = -1;
    /// A run's hold-out fraction (run.json), kept while its root is chosen.
    double m_holdout = 0.0;
    QString m_holdoutRoot;
    bool m_existingRun = false;
    QString m_runNoteText;
};

} // namespace primaps
