// SPDX-License-Identifier: MIT
// The backbone manager: the catalogue table, the details of the selected backbone,
// which buttons apply, and the folders it searches. What the buttons do (download,
// import, remove, cancel) is in backbonemanageroperations.cpp.
#include "backbonemanager/backbonemanagerdialog.h"

#include "backbonemanager/backbonemanagerdialog_p.h"
#include "backbones/backbone.h"
#include "common/messagewidget.h"
#include "backbonemanager/modelregistry.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFont>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QStyle>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

namespace primaps {

namespace {

enum Column
{
    ColTitle,
    ColName,
    ColFamily,
    ColArchitecture,
    ColPatch,
    ColDim,
    ColSize,
    ColStatus,
    ColumnCount
};

const QString kFilterBank = QStringLiteral("filterbank");
const QString kTorchScript = QStringLiteral("torchscript");
/// The filter bank before version 2, still selectable to reproduce older runs.
const QString kFilterBankV1 = QStringLiteral("filterbank-v1");
constexpr int kNameRole = Qt::UserRole + 1;

QString familyTitle(const std::string& family)
{
    if (family == "dino")
        return QStringLiteral("DINO");
    if (family == "dinov2")
        return QStringLiteral("DINOv2");
    return QString::fromStdString(family);
}

QString architectureTitle(const std::string& architecture)
{
    if (architecture == "vit_small")
        return QStringLiteral("ViT-S");
    if (architecture == "vit_base")
        return QStringLiteral("ViT-B");
    return QString::fromStdString(architecture);
}

QColor installedColour()
{
    return QColor(0x2e, 0x7d, 0x32);
}

QString html(const QString& text)
{
    return text.toHtmlEscaped();
}

} // namespace

BackboneManagerDialog::BackboneManagerDialog(QWidget* parent)
    : BackboneManagerDialog(modelCatalog(), parent)
{
}

BackboneManagerDialog::BackboneManagerDialog(std::vector<ModelInfo> catalog, QWidget* parent)
    : QDialog(parent), m_catalog(std::move(catalog)), m_downloader(new ModelDownloader(this))
{
    setObjectName(QStringLiteral("BackboneManagerDialog"));
    setWindowTitle(tr("Backbones"));
    build();
    connect(m_downloader, &ModelDownloader::progress, this, &BackboneManagerDialog::onProgress);
    connect(m_downloader, &ModelDownloader::phaseChanged, this,
            &BackboneManagerDialog::onPhaseChanged);
    connect(m_downloader, &ModelDownloader::finished, this, &BackboneManagerDialog::onFinished);
    refresh();
    if (m_table->topLevelItemCount() > 1)
        m_table->setCurrentItem(m_table->topLevelItem(1));
}

BackboneManagerDialog::~BackboneManagerDialog()
{
    // The downloader (a child) cleans up after itself; an identification still running
    // only reads, so waiting for it is all that is left.
    if (m_identify) {
        m_identify->disconnect(this);
        m_identify->waitForFinished();
    }
}

void BackboneManagerDialog::build()
{
    auto* layout = new QVBoxLayout(this);
    layout->setSpacing(10);

    auto* title = new QLabel(tr("Backbones"), this);
    QFont titleFont = title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.35);
    titleFont.setBold(true);
    title->setFont(titleFont);
    layout->addWidget(title);

    auto* intro = new QLabel(
        tr("A backbone turns an image into the features that PriMaPs decomposes. The filter "
           "bank is built in. The DINO and DINOv2 Vision Transformers read the official "
           "checkpoint files: <b>Download</b> fetches one from its official address (only when "
           "you click it), <b>Import local file</b> takes one you already have. Either way "
           "the file is checked by loading it, its SHA-256 is recorded, and it is kept in the "
           "cache folder under its official name, where both the studio and the "
           "<tt>primaps</tt> command line find it. An imported file is copied; the original "
           "stays where it is."),
        this);
    intro->setWordWrap(true);
    intro->setTextFormat(Qt::RichText);
    layout->addWidget(intro);

    m_banner = new MessageWidget(this);
    layout->addWidget(m_banner);

    m_table = new QTreeWidget(this);
    m_table->setObjectName(QStringLiteral("BackboneTable"));
    m_table->setColumnCount(ColumnCount);
    m_table->setHeaderLabels({tr("Backbone"), tr("Name"), tr("Family"), tr("Architecture"),
                              tr("Patch"), tr("Dim"), tr("Size"), tr("Status")});
    m_table->setRootIsDecorated(false);
    m_table->setUniformRowHeights(true);
    m_table->setAlternatingRowColors(true);
    m_table->setAllColumnsShowFocus(true);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->header()->setStretchLastSection(true);
    m_table->header()->setSectionsMovable(false);
    m_table->headerItem()->setTextAlignment(ColPatch, Qt::AlignRight | Qt::AlignVCenter);
    m_table->headerItem()->setTextAlignment(ColDim, Qt::AlignRight | Qt::AlignVCenter);
    m_table->headerItem()->setTextAlignment(ColSize, Qt::AlignRight | Qt::AlignVCenter);
    layout->addWidget(m_table, 1);
    connect(m_table, &QTreeWidget::currentItemChanged, this, [this] {
        updateDetails();
        updateButtons();
    });

    m_details = new QLabel(this);
    m_details->setObjectName(QStringLiteral("BackboneDetails"));
    m_details->setWordWrap(true);
    m_details->setTextFormat(Qt::RichText);
    m_details->setTextInteractionFlags(Qt::TextBrowserInteraction);
    m_details->setOpenExternalLinks(true);
    m_details->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_details->setFrameShape(QFrame::StyledPanel);
    m_details->setMargin(8);
    m_details->setMinimumHeight(m_details->fontMetrics().lineSpacing() * 5 + 16);
    layout->addWidget(m_details);

    m_progressRow = new QWidget(this);
    auto* progress = new QHBoxLayout(m_progressRow);
    progress->setContentsMargins(0, 0, 0, 0);
    m_progressLabel = new QLabel(m_progressRow);
    m_progressLabel->setTextFormat(Qt::PlainText);
    m_progressBar = new QProgressBar(m_progressRow);
    m_progressBar->setTextVisible(true);
    m_progressBar->setMinimumWidth(220);
    m_cancelButton = new QPushButton(tr("Cancel"), m_progressRow);
    m_cancelButton->setToolTip(tr("Stop; nothing is kept of a stopped download or import"));
    progress->addWidget(m_progressLabel, 1);
    progress->addWidget(m_progressBar, 1);
    progress->addWidget(m_cancelButton);
    connect(m_cancelButton, &QPushButton::clicked, this, &BackboneManagerDialog::cancel);
    m_progressRow->hide();
    layout->addWidget(m_progressRow);

    auto* buttons = new QHBoxLayout;
    m_downloadButton = new QPushButton(tr("Download"), this);
    m_downloadButton->setIcon(style()->standardIcon(QStyle::SP_ArrowDown));
    connect(m_downloadButton, &QPushButton::clicked, this,
            &BackboneManagerDialog::onDownloadClicked);
    m_importButton = new QPushButton(tr("Import Local File\u2026"), this);
    m_importButton->setIcon(style()->standardIcon(QStyle::SP_DialogOpenButton));
    m_importButton->setToolTip(
        tr("Choose a DINO/DINOv2 checkpoint (.pth) you already have. Its architecture is "
           "detected from the file; it is verified by loading it and copied into the cache "
           "folder under its official name. The original is left untouched."));
    connect(m_importButton, &QPushButton::clicked, this, &BackboneManagerDialog::onImportClicked);
    m_removeButton = new QPushButton(tr("Remove"), this);
    m_removeButton->setIcon(style()->standardIcon(QStyle::SP_TrashIcon));
    connect(m_removeButton, &QPushButton::clicked, this, &BackboneManagerDialog::onRemoveClicked);
    m_openFolderButton = new QPushButton(tr("Open Cache Folder"), this);
    m_openFolderButton->setIcon(style()->standardIcon(QStyle::SP_DirOpenIcon));
    m_openFolderButton->setToolTip(QDir::toNativeSeparators(cacheFolder()));
    connect(m_openFolderButton, &QPushButton::clicked, this,
            &BackboneManagerDialog::openCacheFolder);
    auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(close, &QDialogButtonBox::rejected, this, &BackboneManagerDialog::reject);
    buttons->addWidget(m_downloadButton);
    buttons->addWidget(m_importButton);
    buttons->addWidget(m_removeButton);
    buttons->addSpacing(16);
    buttons->addWidget(m_openFolderButton);
    buttons->addStretch(1);
    buttons->addWidget(close);
    layout->addLayout(buttons);

    m_folders = new QLabel(this);
    m_folders->setObjectName(QStringLiteral("SearchedFolders"));
    m_folders->setWordWrap(true);
    m_folders->setTextFormat(Qt::RichText);
    m_folders->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_folders);

    fillTable();
    // Room for the message banner, which appears above the list after an operation.
    resize(1040, sizeHint().height() + 3 * fontMetrics().lineSpacing() + 16);
}

void BackboneManagerDialog::fillTable()
{
    m_table->clear();
    auto add = [this](const QString& name) {
        auto* item = new QTreeWidgetItem(m_table);
        item->setData(ColTitle, kNameRole, name);
        for (int c : {ColPatch, ColDim, ColSize})
            item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
        QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
        item->setFont(ColName, mono);
        item->setText(ColName, name);
        return item;
    };

    QTreeWidgetItem* bank = add(kFilterBank);
    const std::unique_ptr<Backbone> filterBank = createBackbone("filterbank");
    bank->setText(ColTitle, tr("Filter bank"));
    bank->setText(ColFamily, tr("built in"));
    bank->setText(ColArchitecture, tr("Lab + filters"));
    bank->setText(ColPatch, QString::number(filterBank->patchSize()));
    bank->setText(ColDim, QString::number(filterBank->dim()));
    bank->setText(ColSize, QStringLiteral("\u2014"));

    // Right below the current version, and marked as the older one.
    QTreeWidgetItem* bankV1 = add(kFilterBankV1);
    const std::unique_ptr<Backbone> filterBankV1 = createBackbone(kFilterBankV1.toStdString());
    bankV1->setText(ColTitle, tr("Filter bank (previous version)"));
    bankV1->setText(ColFamily, tr("built in"));
    bankV1->setText(ColArchitecture, tr("Lab + filters, v1"));
    bankV1->setText(ColPatch, QString::number(filterBankV1->patchSize()));
    bankV1->setText(ColDim, QString::number(filterBankV1->dim()));
    bankV1->setText(ColSize, QStringLiteral("\u2014"));

    for (const ModelInfo& m : m_catalog) {
        QTreeWidgetItem* item = add(QString::fromStdString(m.name));
        item->setText(ColTitle, QString::fromStdString(m.title));
        item->setText(ColFamily, familyTitle(m.family));
        item->setText(ColArchitecture, architectureTitle(m.architecture));
        item->setToolTip(ColArchitecture, QString::fromStdString(m.architecture));
        item->setText(ColPatch, QString::number(m.patchSize));
        item->setText(ColDim, QString::number(m.dim));
        item->setText(ColSize, m.expectedSize > 0 ? megabytes(m.expectedSize) : QString());
    }

    QTreeWidgetItem* script = add(kTorchScript);
    script->setText(ColTitle, tr("TorchScript"));
    script->setText(ColFamily, tr("any"));
    script->setText(ColArchitecture, tr("your module"));
    script->setText(ColPatch, QStringLiteral("\u2014"));
    script->setText(ColDim, QStringLiteral("\u2014"));
    script->setText(ColSize, QStringLiteral("\u2014"));

    QHeaderView* header = m_table->header();
    for (int c = 0; c < ColStatus; ++c)
        m_table->resizeColumnToContents(c);
    header->resizeSection(ColTitle, header->sectionSize(ColTitle) + 12);
    // Tall enough for every row, so that the list never scrolls at its initial size.
    const int rows = m_table->topLevelItemCount();
    m_table->setMinimumHeight(header->sizeHint().height() + rows * m_table->sizeHintForRow(0) +
                              2 * m_table->frameWidth() + 4);
}

void BackboneManagerDialog::refresh()
{
    for (int i = 0; i < m_table->topLevelItemCount(); ++i)
        updateRow(m_table->topLevelItem(i));
    updateDetails();
    updateButtons();
    updateFolders();
}

void BackboneManagerDialog::updateRow(QTreeWidgetItem* item)
{
    const QString name = item->data(ColTitle, kNameRole).toString();
    QString status;
    QString tip;
    QColor colour = palette().color(QPalette::Disabled, QPalette::Text);
    bool bold = false;
    if (name == kFilterBank) {
        status = tr("built in, no file needed");
        colour = installedColour();
    } else if (name == kFilterBankV1) {
        status = tr("built in; the previous version, for reproducing older runs");
        colour = installedColour();
    } else if (name == kTorchScript) {
        status = tr("uses a module file you choose (--weights FILE.pt)");
        tip = tr("Any backbone exported to TorchScript (see models/README.md); the primaps "
                 "command line loads it with --backbone torchscript --weights FILE.pt");
    } else if (isBusy() && name == m_activeName) {
        const bool local = m_downloader->request().url.isLocalFile();
        if (m_downloader->phase() == ModelDownloader::Phase::Verifying)
            status = tr("verifying\u2026");
        else if (m_activePercent >= 0)
            status = (local ? tr("importing\u2026 %1 %") : tr("downloading\u2026 %1 %"))
                         .arg(m_activePercent);
        else
            status = local ? tr("importing\u2026") : tr("downloading\u2026");
        colour = palette().color(QPalette::Active, QPalette::Text);
    } else {
        const QString path = installedPath(name);
        if (path.isEmpty()) {
            status = tr("not installed");
        } else {
            status = tr("installed at %1").arg(displayPath(path));
            tip = QDir::toNativeSeparators(path);
            colour = installedColour();
            bold = true;
        }
    }
    item->setText(ColStatus, status);
    item->setToolTip(ColStatus, tip.isEmpty() ? status : tip);
    item->setForeground(ColStatus, colour);
    QFont font = item->font(ColStatus);
    font.setBold(bold);
    item->setFont(ColStatus, font);
}

void BackboneManagerDialog::updateDetails()
{
    const QString name = selectedName();
    QStringList lines;
    if (name == kFilterBank) {
        lines << tr("<b>Filter bank</b> &nbsp;<tt>filterbank</tt>, the default")
              << tr("No weights and no network: Lab colour, chromaticity and ilastik's filter "
                    "set, pooled per patch, with each patch's surroundings at several scales "
                    "(version 2; version 1 stays available as <tt>filterbank-v1</tt>). It "
                    "finds colour and texture segments, not semantics.");
    } else if (name == kFilterBankV1) {
        lines << tr("<b>Filter bank, previous version</b> &nbsp;<tt>filterbank-v1</tt>")
              << tr("Version 1 of the built-in filter bank, kept so that runs fitted with it "
                    "(and runs recorded without a version) can be reproduced: choose it with "
                    "<tt>--backbone filterbank-v1</tt>. New work should use <tt>filterbank</tt>.");
    } else if (name == kTorchScript) {
        lines << tr("<b>TorchScript</b> &nbsp;<tt>torchscript</tt>")
              << tr("Any feature extractor exported to TorchScript (for example a STEGO or HP "
                    "head on DINO; models/export_torchscript.py writes such files). It needs no "
                    "installation: pass the file with <tt>primaps decompose --backbone "
                    "torchscript --weights FILE.pt</tt>.");
    } else if (const ModelInfo* m = catalogEntry(name)) {
        QString head = QStringLiteral("<b>%1</b> &nbsp;<tt>%2</tt> &nbsp;\u00b7&nbsp; %3 M "
                                      "parameters, %4 blocks, %5 heads &nbsp;\u00b7&nbsp; "
                                      "recommended \u03c4 %6 at a shorter side of %7 px")
                           .arg(html(QString::fromStdString(m->title)), html(name))
                           .arg(double(m->parameters) / 1e6, 0, 'f', 1)
                           .arg(m->depth)
                           .arg(m->heads)
                           .arg(double(m->threshold))
                           .arg(m->resize);
        lines << head;
        QString official =
            tr("Official file: %1 (%2)")
                .arg(html(QString::fromStdString(m->url)), megabytes(m->expectedSize));
        if (!m->source.empty())
            official += tr(", published by <a href=\"%1\">%2</a>")
                            .arg(html(QString::fromStdString(m->source)),
                                 html(QUrl(QString::fromStdString(m->source)).host() +
                                      QUrl(QString::fromStdString(m->source)).path()));
        lines << official;
        const QString path = installedPath(name);
        if (isBusy() && name == m_activeName) {
            lines << (m_downloader->request().url.isLocalFile()
                          ? tr("Being imported into the cache folder. <b>Cancel</b> stops it and "
                               "keeps nothing.")
                          : tr("Being downloaded into the cache folder. <b>Cancel</b> stops it "
                               "and keeps nothing of it."));
        } else if (path.isEmpty()) {
            lines << tr("Not installed. <b>Download</b> puts it into the cache folder; so does "
                        "<b>Import Local File</b> for a copy you already have.");
        } else {
            const std::optional<InstalledModelRecord> record =
                ModelRegistry(QFileInfo(path).absolutePath()).find(QFileInfo(path).fileName());
            QString where = tr("Installed at <tt>%1</tt>").arg(html(displayPath(path)));
            if (record && !record->sha256.isEmpty()) {
                where +=
                    tr("<br>SHA-256 <tt>%1</tt>, recorded %2 after loading it")
                        .arg(record->sha256, QLocale().toString(record->installed.toLocalTime(),
                                                                QLocale::ShortFormat));
            } else if (!isManaged(path)) {
                where += tr(" (found there; not managed by this dialog)");
            } else {
                where += tr(" (placed there by hand; no checksum recorded)");
            }
            lines << where;
        }
    }
    m_details->setText(lines.join(QStringLiteral("<br>")));
}

void BackboneManagerDialog::updateButtons()
{
    const QString name = selectedName();
    const ModelInfo* model = catalogEntry(name);
    const bool busy = isBusy();
    const QString path = model ? installedPath(name) : QString();

    m_downloadButton->setEnabled(model && path.isEmpty() && !busy);
    m_downloadButton->setText(model && model->expectedSize > 0
                                  ? tr("Download (%1)").arg(megabytes(model->expectedSize))
                                  : tr("Download"));
    if (!model)
        m_downloadButton->setToolTip(tr("Select a DINO or DINOv2 backbone to download"));
    else if (!path.isEmpty())
        m_downloadButton->setToolTip(tr("Already installed at %1").arg(displayPath(path)));
    else
        m_downloadButton->setToolTip(tr("Download %1 from %2 into the cache folder")
                                         .arg(QString::fromStdString(model->fileName),
                                              QUrl(QString::fromStdString(model->url)).host()));

    m_importButton->setEnabled(!busy);

    const bool managed = !path.isEmpty() && isManaged(path);
    m_removeButton->setEnabled(managed && !busy);
    if (managed)
        m_removeButton->setToolTip(tr("Delete %1 from the cache folder").arg(displayPath(path)));
    else if (!path.isEmpty())
        m_removeButton->setToolTip(
            tr("%1 is outside the cache folder; this dialog does not delete files it did not "
               "install")
                .arg(displayPath(path)));
    else
        m_removeButton->setToolTip(tr("Nothing installed to remove"));
}

void BackboneManagerDialog::updateFolders()
{
    const QString cache = QDir::cleanPath(cacheFolder());
    const char* ownEnv = std::getenv("PRIMAPS_MODELS_DIR");
    const QString own =
        ownEnv && *ownEnv ? QDir::cleanPath(QString::fromLocal8Bit(ownEnv)) : QString();
    QStringList items;
    int index = 0;
    for (const std::string& dirString : modelSearchDirectories()) {
        const QString dir = QDir::cleanPath(QString::fromStdString(dirString));
        QString role;
        if (dir == cache)
            role = tr("the cache folder: downloads and imports go here");
        else if (!own.isEmpty() && dir == own)
            role = tr("$PRIMAPS_MODELS_DIR");
        else
            role = tr("PyTorch Hub's cache, where torch.hub.load() leaves these files");
        if (!QFileInfo(dir).isDir())
            role += tr("; does not exist yet");
        items << QStringLiteral("%1.&nbsp;<tt>%2</tt> &nbsp;<span style=\"color:%3\">(%4)</span>")
                     .arg(++index)
                     .arg(html(displayPath(dir)),
                          palette().color(QPalette::Disabled, QPalette::Text).name(), html(role));
    }
    m_folders->setText(tr("Checkpoint files are looked for under their official names in these "
                          "folders, in this order:") +
                       QStringLiteral("<br>") + items.join(QStringLiteral("<br>")));
}

QStringList BackboneManagerDialog::backboneNames() const
{
    QStringList names;
    for (int i = 0; i < m_table->topLevelItemCount(); ++i)
        names << m_table->topLevelItem(i)->data(ColTitle, kNameRole).toString();
    return names;
}

QString BackboneManagerDialog::statusText(const QString& name) const
{
    QTreeWidgetItem* item = itemOf(name);
    return item ? item->text(ColStatus) : QString();
}

QString BackboneManagerDialog::installedPath(const QString& name) const
{
    const ModelInfo* model = catalogEntry(name);
    return model ? QString::fromStdString(findModelFile(*model)) : QString();
}

QString BackboneManagerDialog::cacheFolder() const
{
    return QString::fromStdString(modelDownloadDirectory());
}

bool BackboneManagerDialog::isBusy() const
{
    return m_identify != nullptr || m_downloader->isBusy();
}

QString BackboneManagerDialog::message() const
{
    return m_banner->text();
}

bool BackboneManagerDialog::selectBackbone(const QString& name)
{
    QTreeWidgetItem* item = itemOf(name);
    if (item)
        m_table->setCurrentItem(item);
    return item != nullptr;
}

const ModelInfo* BackboneManagerDialog::catalogEntry(const QString& name) const
{
    const std::string key = name.toStdString();
    for (const ModelInfo& m : m_catalog)
        if (m.name == key)
            return &m;
    return nullptr;
}

QString BackboneManagerDialog::selectedName() const
{
    QTreeWidgetItem* item = m_table->currentItem();
    return item ? item->data(ColTitle, kNameRole).toString() : QString();
}

QTreeWidgetItem* BackboneManagerDialog::itemOf(const QString& name) const
{
    for (int i = 0; i < m_table->topLevelItemCount(); ++i)
        if (m_table->topLevelItem(i)->data(ColTitle, kNameRole).toString() == name)
            return m_table->topLevelItem(i);
    return nullptr;
}

bool BackboneManagerDialog::isManaged(const QString& path) const
{
    return QDir::cleanPath(QFileInfo(path).absolutePath()) == QDir::cleanPath(cacheFolder());
}

} // namespace primaps
