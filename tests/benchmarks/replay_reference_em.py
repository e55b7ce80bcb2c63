#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Replays the official PriMaPs training procedure on exported caches.

Our own re-implementation, in PyTorch, of the update rules of the public
reference (visinf/primaps, train.py and primaps_modules/{clustering,ema}.py) as
its experiments.sh runs them: PCA initialisation (torch.pca_lowrank, q = 2K,
200 iterations), the "baseline" run (cosine k-means by gradient on normalised
features, Adam 5e-3, 2 epochs), then the "method" run (weight-normalised 1x1
head initialised from the k-means prototypes with unit gain; E-step with the EMA
head on bilinearly upsampled raw features, each mask takes the mode of its
predictions; focal-weighted cross-entropy; Adam 5e-3; EMA every 10 steps with
decay 0.98 and the ema_pytorch warm-up), 50 epochs of batches of 32, shuffled,
last batch dropped.

It reads what `bench_em_quality --export DIR` writes (features.npy,
masks.npy, labels.npy and val_*.npy of one class set) and prints, per seed, the
validation Acc / mIoU after Hungarian matching and the pixel share of every
cluster, so that one can see whether the reference's procedure itself collapses
on these features. Needs Debian's python3-torch and python3-scipy; it is a
benchmark-side tool, no test depends on it.

    python3 tests/benchmarks/replay_reference_em.py DIR [--seeds 0,1,2] [--epochs 50]
        [--batch 32] [--label-size N] [--pseudo-labels em|oracle]

--pseudo-labels oracle replaces the E-step by the true class of each mask (the
majority of its ground-truth pixels): an experiment, not a method, that shows
what the M-step makes of perfect mask labels. --label-size N samples masks and
labels at N x N (nearest) before anything runs, so that a replay takes minutes.
"""
import argparse
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

IGNORE = 255


def batches(n, batch, generator):
    order = torch.randperm(n, generator=generator)
    for b in range(n // batch):
        yield order[b * batch:(b + 1) * batch]


def evaluate(head, feats, labels, k, classes):
    confusion = np.zeros((k, classes), dtype=np.int64)
    with torch.no_grad():
        for i in range(feats.shape[0]):
            f = F.interpolate(feats[i:i + 1], labels.shape[-2:], mode="bilinear",
                              align_corners=False)
            pred = head(f).argmax(1)[0].numpy().ravel()
            lab = labels[i].numpy().ravel()
            valid = lab < classes
            np.add.at(confusion, (pred[valid], lab[valid]), 1)
    rows, cols = linear_sum_assignment(confusion.T, maximize=True)  # class -> cluster
    cluster_to_class = np.full(k, -1)
    cluster_to_class[cols] = rows
    for c in range(k):  # extra clusters: majority, as the reference metric
        if cluster_to_class[c] < 0:
            cluster_to_class[c] = int(confusion[c].argmax())
    matched = np.zeros((classes, classes), dtype=np.int64)
    for c in range(k):
        matched[cluster_to_class[c]] += confusion[c]
    tp = np.diag(matched)
    union = matched.sum(0) + matched.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    share = confusion.sum(1) / max(1, confusion.sum())
    return 100 * tp.sum() / confusion.sum(), 100 * np.nanmean(iou), share


def oracle_labels(masks, labels, classes):
    """Each mask's pixels take the majority ground-truth class of the mask."""
    out = torch.full_like(masks, IGNORE)
    for i in range(masks.shape[0]):
        for m in masks[i].unique():
            if m == IGNORE:
                continue
            inside = masks[i] == m
            lab = labels[i][inside]
            lab = lab[lab < classes]
            if lab.numel():
                out[i][inside] = torch.bincount(lab, minlength=classes).argmax()
    return out


def run(data, seed, epochs, init_epochs, batch, lr, ema_every, ema_decay, gamma, method,
        oracle=None):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    feats, masks, k = data["features"], data["masks"], data["classes"]
    n, c = feats.shape[0], feats.shape[1]

    # PCA initialisation over (up to 93 batches of) the training features.
    x = feats.permute(1, 0, 2, 3).reshape(c, -1).t()
    _, _, v = torch.pca_lowrank(x, q=min(2 * k, c), niter=200)
    init = v[:, :k].t().reshape(k, c, 1, 1).clone()

    # The baseline run: the ConvClusterProbe normalises the features and pins the
    # gain to 1; loss = -mean over positions of the best cosine.
    probe = nn.utils.weight_norm(nn.Conv2d(c, k, 1, bias=False), name="weight", dim=0)
    probe.weight_v.data.copy_(init)
    probe.weight_g.data.fill_(1.0)
    optim = torch.optim.Adam([probe.weight_v], lr=lr)
    kmeans_epochs = epochs if method == "kmeans" else init_epochs
    for _ in range(kmeans_epochs):
        for idx in batches(n, batch, gen):
            optim.zero_grad()
            inner = probe(F.normalize(feats[idx], dim=1))
            onehot = F.one_hot(inner.argmax(1), k).permute(0, 3, 1, 2).to(inner.dtype)
            loss = -(onehot * inner).sum(1).mean()
            loss.backward()
            optim.step()
    if method == "kmeans":
        def head(f):
            return probe(F.normalize(f, dim=1))
        return head, head

    # The method run.
    seghead = nn.utils.weight_norm(nn.Conv2d(c, k, 1, bias=False), name="weight", dim=0)
    seghead.weight_v.data.copy_(probe.weight_v.data)
    seghead.weight_g.data.fill_(1.0)
    # A copy of the head (deepcopy refuses weight_norm's computed weight).
    ema = nn.utils.weight_norm(nn.Conv2d(c, k, 1, bias=False), name="weight", dim=0)
    ema.weight_v.data.copy_(seghead.weight_v.data)
    ema.weight_g.data.copy_(seghead.weight_g.data)
    ema.requires_grad_(False)
    ema_calls = 0
    optim = torch.optim.Adam(seghead.parameters(), lr=lr)
    step = 0
    for _ in range(epochs):
        for idx in batches(n, batch, gen):
            f = F.interpolate(feats[idx], masks.shape[-2:], mode="bilinear", align_corners=False)
            with torch.no_grad():
                prior = ema(f).argmax(1)
            pseudo = torch.full_like(masks[idx], IGNORE)
            if oracle is not None:
                pseudo = oracle[idx]
            for b, msk in enumerate(masks[idx] if oracle is None else []):
                for m in msk.unique():
                    if m == IGNORE:
                        continue
                    fill = (pseudo[b] == IGNORE) & (msk == m)
                    pseudo[b][fill] = prior[b][fill].mode()[0]
            optim.zero_grad()
            logits = seghead(f)
            conf = logits.detach().softmax(1).permute(1, 0, 2, 3).reshape(k, -1).mean(1)
            weight = (1 - conf) ** gamma
            loss = F.cross_entropy(logits, pseudo, weight=weight, ignore_index=IGNORE,
                                   reduction="none").mean()
            loss.backward()
            optim.step()
            step += 1
            if step % ema_every == 0:
                s = ema_calls
                ema_calls += 1
                decay = 0.0 if s <= 1 else min(ema_decay, 1 - 1 / (s + 1))
                with torch.no_grad():
                    for p_ema, p in zip(ema.parameters(), seghead.parameters()):
                        p_ema.lerp_(p, 1 - decay)
    return ema, seghead


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--init-epochs", type=int, default=2)
    parser.add_argument("--method", default="primaps-em", choices=["primaps-em", "kmeans"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--label-size", type=int, default=0)
    parser.add_argument("--pseudo-labels", default="em", choices=["em", "oracle"])
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    feats = torch.from_numpy(np.load(a.dir + "/features.npy"))
    masks = torch.from_numpy(np.load(a.dir + "/masks.npy").astype(np.int64))
    masks[masks == 0] = IGNORE  # our background id; the reference stores it as ignore
    labels = torch.from_numpy(np.load(a.dir + "/labels.npy").astype(np.int64))
    val_feats = torch.from_numpy(np.load(a.dir + "/val_features.npy"))
    val_labels = torch.from_numpy(np.load(a.dir + "/val_labels.npy").astype(np.int64))
    classes = int(labels[labels < IGNORE].max()) + 1
    if a.label_size:
        step = masks.shape[-1] // a.label_size
        def sample(t):
            return t[:, step // 2::step, step // 2::step].contiguous()
        masks, labels, val_labels = sample(masks), sample(labels), sample(val_labels)
    data = {"features": feats, "masks": masks, "classes": classes}
    oracle = oracle_labels(masks, labels, classes) if a.pseudo_labels == "oracle" else None
    for seed in [int(s) for s in a.seeds.split(",")]:
        theta_m, theta_r = run(data, seed, a.epochs, a.init_epochs, a.batch, 5e-3, 10, 0.98, 2.0,
                               a.method, oracle)
        for name, head in (("theta_M", theta_m), ("theta_R", theta_r)):
            acc, miou, share = evaluate(head, val_feats, val_labels, classes, classes)
            print("%s seed %d %s: Acc %.1f mIoU %.1f cluster share %% %s" % (
                a.method, seed, name, acc, miou, " ".join("%.1f" % (100 * s) for s in share)))
            if a.method == "kmeans":
                break


if __name__ == "__main__":
    main()
