// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "runs/fitrun.h"

#include <QDialog>
#include <QTimer>

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
/// problem in the dialog's banner instead of closing; a run folder the fit may
/// not write into (core's requireFitRunFolder: someone else's files) is named
/// under the run folder field. Only cheap checks run there; loading the
/// backbone happens in the fit's thread, and its problems reach the fit monitor.
///
/// What the dataset fields imply (the split an empty Split field stands for, the
/// images a folder's split holds, which caps the PCA images) is looked up once
/// the fields rest for kLookupDelayMs, the folder listed off the GUI thread; the
/// newest request wins (datasetLookedUp() when its answer is shown). OK pressed
/// before the fields' lookup has answered starts it at once and waits for it
/// (OK disabled, "Checking the dataset…"), so that the settings accepted are the
/// ones the dataset in the fields implies. Editing a dataset field or opening a
/// Browse… dialog meanwhile cancels the wait, and an answer that finds any field
/// changed since OK was pressed hands OK back instead of accepting.
///
/// A resolution below two patches of the chosen backbone (core's
/// minimumResolution(), which the fit refuses) is named under the field and
/// refused on OK; 0 stands for the backbone's default.
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
    /// Why the run folder cannot take this fit ("" when it can): the guard's
    /// message, shown under the run folder field.
    QString runFolderProblem() const { return m_runProblem; }
    /// True while a dataset lookup waits for the fields to rest or runs.
    bool isLookingUp() const;
    /// True while OK waits for the lookup of the current fields to answer.
    bool isAcceptPending() const { return m_acceptPending; }
    /// Why the resolution cannot be used with the chosen backbone ("" when it
    /// can): shown under the field.
    QString resolutionProblem() const;

    /// How long the dataset fields rest before they are looked up.
    static constexpr int kLookupDelayMs = 250;

    /// Remembers the last request in QSettings / restores it (not done by the
    /// constructor, so tests start from the defaults).
    void saveRecent() const;
    void restoreRecent();

    QLineEdit* rootEdit() const { return m_root; }
    QComboBox* layoutBox() const { return m_kind; }
    QComboBox* splitBox() const { return m_split; }
    QSpinBox* pcaImagesBox() const { return m_pcaImages; }
    QSpinBox* resolutionBox() const { return m_resolution; }
    QLabel* resolutionNote() const { return m_resolutionNote; }
    QComboBox* backboneBox() const { return m_backbone; }
    QDialogButtonBox* buttonBox() const { return m_buttons; }
    QDoubleSpinBox* holdoutBox() const { return m_holdoutBox; }
    QComboBox* protocolBox() const { return m_protocol; }
    QLabel* protocolNote() const { return m_protocolNote; }
    QLabel* runNoteLabel() const { return m_runNote; }
    QLineEdit* runEdit() const { return m_run; }
    QLineEdit* weightsEdit() const { return m_weights; }
    MessageWidget* messageWidget() const { return m_messages; }

public slots:
    void accept() override;

signals:
    /// The answer of the newest dataset lookup is shown (hint and PCA cap).
    void datasetLookedUp();

private:
    /// What a lookup found: the split an empty Split field stands for and the
    /// images the chosen split holds (-1: unknown, e.g. no ROOT/images yet).
    struct Lookup
    {
        std::string defaultSplit;
        int images = -1;
        std::string defaultValidation; ///< the split validation defaults to
        bool hasLabels = false;        ///< a folder with a labels/ subfolder
    };
    void onKindChanged();
    /// Restarts the wait before the dataset fields are looked up.
    void scheduleLookup();
    /// Lists the dataset the fields name, off the GUI thread (fitdialogdataset.cpp).
    void startLookup();
    void showLookup(const QString& key, const Lookup& found);
    /// The newest lookup answered: a pending OK goes on (accept()).
    void onLookedUp();
    /// OK disabled with a note while it waits for the lookup, or back.
    void setAcceptPending(bool pending);
    /// OK given back when it waits (a Browse… dialog is opened).
    void endAcceptWait();
    /// The values of every field, to notice edits made while OK waited.
    QString formSnapshot() const;
    /// The note under the resolution field follows the backbone and the value.
    void updateResolutionNote();
    /// The split hint and the PCA cap from a lookup: caps the PCA images at the
    /// split's image count, and gives the value the user (or the request) asked
    /// for back when the data allows it again.
    void applyLookup(const Lookup& found);
    /// The hold-out box's fraction; a request's exact one while the box shows it.
    double holdoutFraction() const;
    void onHoldoutChanged();
    void onProtocolChanged();
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
    QLabel* m_resolutionNote = nullptr;
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
    QDoubleSpinBox* m_holdoutBox = nullptr;
    QComboBox* m_protocol = nullptr;
    QLabel* m_protocolNote = nullptr;
    QDialogButtonBox* m_buttons = nullptr;
    int m_pcaImagesWanted = 0; ///< the user's or the request's value, before the cap
    QTimer m_lookupTimer;
    quint64 m_lookupGeneration = 0; ///< the newest lookup; older answers are dropped
    int m_lookupsRunning = 0;
    quint64 m_answeredGeneration = 0; ///< the newest lookup whose answer is shown
    bool m_acceptPending = false;     ///< OK waits for the lookup of the fields
    QString m_pendingSnapshot;        ///< formSnapshot() when OK was pressed
    QString m_shownKey; ///< the fields the shown lookup answered
    /// The next lookup chooses whether and on what to validate (a root was entered).
    bool m_validationFollowsData = false;
    double m_exactHoldout = 0.0; ///< a request's fraction, which the box shows rounded
    bool m_existingRun = false;
    QString m_runNoteText;
    QString m_runProblem;
    QString m_whitenRidgeTip; ///< the ridge's tooltip while the protocol whitens
};

} // namespace primaps
