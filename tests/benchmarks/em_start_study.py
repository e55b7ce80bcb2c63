#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Where PriMaPs-EM ends from different starts, and whether anything unsupervised tells the good ends apart.

Reads what `bench_em_quality --export DIR` writes for one class set
(features.npy, masks.npy, labels.npy, val_features.npy, val_labels.npy) and,
on features whitened with the robust protocol's ridge, prints for each start:

- the start's validation mIoU, and the mIoU PriMaPs-EM ends at from it
  (robust E-step: a mask votes only when >= 70 % of its pixels agree;
  focal-weighted cross-entropy; Adam at 1e-3; EMA every 10 steps; starved
  prototypes re-seeded every 10 steps, as docs/ALGORITHM.md describes);
- three scores that need no labels, before and after the EM: the k-means
  objective (mean best cosine over 65,536 training positions), the mask
  purity (share of each PriMaPs mask's pixels in the mask's majority cluster)
  and the share of mask-pair weight of one image in one cluster (session 12).

Starts: the true class means of `train` (a ceiling no method has), Lloyd's
iterations from them, and for each seed k-means++ alone and Lloyd from it;
with --restarts R the best of R Lloyd restarts by the objective and by the
fewest shared mask pairs (session 12), and the paired t between them; with
--texton-words W masks grouped by their texton histograms (session 13); with
--trial-epochs N also the objective after N epochs (session 14's trial).
docs/em-quality.md (session 9) has the numbers and what they say. A
benchmark-side study (Debian's python3-torch and python3-scipy); no test
depends on it.

    python3 tests/benchmarks/em_start_study.py DIR [--ridge 0.3] [--seeds 0,1,2,3]
        [--label-size 80] [--epochs 50] [--restarts 16] [--texton-words 96]
        [--trial-epochs 6] [--starved-share 0.1]
"""
import argparse
import time
import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

IGNORE = 255


def load(folder, label_size):
    def npy(name):
        return torch.from_numpy(np.load(f"{folder}/{name}.npy"))
    feats, val_feats = npy("features").float(), npy("val_features").float()
    masks, labels, val_labels = (npy(n).long() for n in ("masks", "labels", "val_labels"))
    if label_size:  # nearest sampling keeps a run to minutes
        step = masks.shape[-1] // label_size
        pick = (slice(None), slice(step // 2, None, step), slice(step // 2, None, step))
        masks, labels, val_labels = masks[pick], labels[pick], val_labels[pick]
    classes = int(labels[labels < IGNORE].max()) + 1
    return feats, masks, labels, val_feats, val_labels, classes


def whiten(feats, val_feats, ridge):
    """z = S_r^(-1/2) x / |x| with S the covariance of the unit features, ridge r times its mean eigenvalue."""
    c = feats.shape[1]
    unit = F.normalize(feats, dim=1).permute(0, 2, 3, 1).reshape(-1, c)
    eig, vecs = torch.linalg.eigh(torch.cov(unit.t()).double())
    eig = eig.clamp_min(0)
    eig = eig + ridge * eig.mean()
    t = (vecs @ torch.diag(eig.rsqrt()) @ vecs.t()).float()
    apply = lambda x: torch.einsum("dc,nchw->ndhw", t, F.normalize(x, dim=1))
    return apply(feats), apply(val_feats)


def logits(dirs, gains, feats, size):
    w = gains[:, None] * F.normalize(dirs, dim=1)
    return F.interpolate(torch.einsum("kc,bchw->bkhw", w, feats), size, mode="bilinear",
                         align_corners=False)


def miou(dirs, gains, feats, labels, classes):
    k = dirs.shape[0]
    confusion = np.zeros((k, classes), np.int64)
    with torch.no_grad():
        for i in range(0, feats.shape[0], 8):
            pred = logits(dirs, gains, feats[i:i + 8], labels.shape[-2:]).argmax(1).numpy().ravel()
            lab = labels[i:i + 8].numpy().ravel()
            valid = lab < classes
            np.add.at(confusion, (pred[valid], lab[valid]), 1)
    rows, cols = linear_sum_assignment(confusion.T, maximize=True)  # class -> cluster
    cluster_class = confusion.argmax(1)  # clusters beyond the classes: majority
    cluster_class[cols] = rows
    matched = np.zeros((classes, classes), np.int64)
    for j in range(k):
        matched[cluster_class[j]] += confusion[j]
    tp = np.diag(matched)
    union = matched.sum(0) + matched.sum(1) - tp
    return 100 * float(np.mean(tp / np.maximum(union, 1))), 100 * confusion.sum(1) / confusion.sum()


def mask_votes(pred, masks, k):
    b = pred.shape[0]
    m = int(masks.max()) + 1
    key = (torch.arange(b)[:, None, None] * m + masks) * k + pred
    return torch.bincount(key.ravel(), minlength=b * m * k).reshape(b, m, k)


def mask_purity(dirs, feats, masks):
    agree = total = 0
    for i in range(0, feats.shape[0], 8):
        pred = logits(dirs, torch.ones(dirs.shape[0]), feats[i:i + 8], masks.shape[-2:]).argmax(1)
        votes = mask_votes(pred, masks[i:i + 8], dirs.shape[0])[:, 1:]  # mask 0 = unassigned
        agree += votes.max(2)[0].sum().item()
        total += votes.sum().item()
    return agree / total


def mask_pairs_shared(dirs, feats, masks):
    """Share of the weight of pairs of masks of one image (a pair weighs the
    smaller mask's pixels) whose majority clusters coincide (session 12)."""
    shared = total = 0.0
    for i in range(0, feats.shape[0], 8):
        pred = logits(dirs, torch.ones(dirs.shape[0]), feats[i:i + 8], masks.shape[-2:]).argmax(1)
        votes = mask_votes(pred, masks[i:i + 8], dirs.shape[0])[:, 1:]  # mask 0 = unassigned
        majority, area = votes.argmax(2), votes.sum(2).double()
        weight = torch.minimum(area[:, :, None], area[:, None, :])
        weight = weight * (1 - torch.eye(weight.shape[1], dtype=torch.double))  # pairs, not a mask with itself
        shared += (weight * (majority[:, :, None] == majority[:, None, :])).sum().item()
        total += weight.sum().item()
    return shared / total


def paired_t(objective_start, fewest_start, feats, masks):
    """Session 12's evidence: the paired t over images of the mask-pair weight the
    objective's restart puts into one cluster minus the fewest's."""
    def per_image(dirs):
        shared = []
        for i in range(0, feats.shape[0], 8):
            pred = logits(dirs, torch.ones(dirs.shape[0]), feats[i:i + 8], masks.shape[-2:]).argmax(1)
            votes = mask_votes(pred, masks[i:i + 8], dirs.shape[0])[:, 1:]
            majority, area = votes.argmax(2), votes.sum(2).double()
            weight = torch.minimum(area[:, :, None], area[:, None, :])
            weight = weight * (1 - torch.eye(weight.shape[1], dtype=torch.double))
            weight = weight * (area[:, :, None] > 0) * (area[:, None, :] > 0)
            shared.append(torch.stack([(weight * (majority[:, :, None] == majority[:, None, :])).sum((1, 2)),
                                       weight.sum((1, 2))], 1))
        return torch.cat(shared)
    a, b = per_image(objective_start), per_image(fewest_start)
    d = (a[:, 0] - b[:, 0])[a[:, 1] > 0]
    return (d.mean() / (d.std() / len(d) ** 0.5)).item() if d.std() > 0 else 0.0


def sample_positions(feats, labels, generator, count=65536):
    n, c = feats.shape[:2]
    flat = feats.permute(0, 2, 3, 1).reshape(n, -1, c)
    grid_labels = F.interpolate(labels[:, None].float(), feats.shape[-2:], mode="nearest")
    grid_labels = grid_labels[:, 0].long().reshape(n, -1)
    pick = torch.randint(0, flat.shape[1], (n, max(1, count // n)), generator=generator)
    x = torch.gather(flat, 1, pick[..., None].expand(-1, -1, c)).reshape(-1, c)
    return F.normalize(x, dim=1), torch.gather(grid_labels, 1, pick).reshape(-1)


def kmeanspp(x, k, generator):
    chosen = [int(torch.randint(0, x.shape[0], (1,), generator=generator))]
    best = torch.full((x.shape[0],), -1.0)
    for _ in range(1, k):
        best = torch.maximum(best, x @ x[chosen[-1]])
        chosen.append(int(torch.multinomial((2 - 2 * best).clamp_min(0).double(), 1, generator=generator)))
    return x[chosen].clone()


def lloyd(x, centres, iterations=100):
    centres, previous = centres.clone(), None
    for _ in range(iterations):
        assign = (x @ centres.t()).argmax(1)
        if previous is not None and (assign != previous).float().mean() < 1e-3:
            break
        previous = assign
        for j in range(centres.shape[0]):
            members = x[assign == j]
            if len(members):
                centres[j] = F.normalize(members.sum(0), dim=0)
    return centres


def texton_start(feats, masks, x, k, words, generator):
    """Prototypes from masks grouped by texture (session 13): the positions fall into
    `words` Lloyd clusters (texton words; the best of 4 runs), each PriMaPs mask is described by the
    square root of its word histogram, the masks are grouped into k by k-means
    weighted by area (16 restarts), and each group's prototype is the mean unit
    feature of its masks' pixels."""
    unit = F.normalize(feats, dim=1)
    n, c = unit.shape[:2]
    size, m = masks.shape[-2:], int(masks.max()) + 1
    runs = [lloyd(x, kmeanspp(x, words, generator)) for _ in range(4)]
    vocabulary = max(runs, key=lambda v: (x @ v.t()).max(1)[0].mean().item())
    word = torch.einsum("qc,nchw->nqhw", vocabulary, unit).argmax(1)
    word = F.interpolate(word[:, None].float(), size, mode="nearest")[:, 0].long()
    key = (torch.arange(n)[:, None, None] * m + masks).ravel()
    hist = torch.zeros(n * m, words).index_put_((key, word.ravel()), torch.ones(key.numel()), accumulate=True)
    area = hist.sum(1)
    used = torch.nonzero((area > 0) & (torch.arange(n * m) % m != 0)).ravel()  # mask 0 = unassigned
    h, weight = F.normalize(hist[used].sqrt(), dim=1), area[used]
    best = None
    for _ in range(16):
        centres = [h[int(torch.multinomial(weight, 1, generator=generator))]]
        nearest = torch.full((len(h),), -1.0)
        for _ in range(1, k):
            nearest = torch.maximum(nearest, h @ centres[-1])
            chance = ((2 - 2 * nearest).clamp_min(0) * weight).double()
            centres.append(h[int(torch.multinomial(chance, 1, generator=generator))])
        centres, previous = torch.stack(centres), None
        for _ in range(100):
            group = (h @ centres.t()).argmax(1)
            if previous is not None and (group != previous).float().mean() < 1e-4:
                break
            previous = group
            for j in range(k):
                if (group == j).any():
                    centres[j] = F.normalize((h[group == j] * weight[group == j, None]).sum(0), dim=0)
        score = ((h @ centres.t()).max(1)[0] * weight).sum().item()
        if best is None or score > best[0]:
            best = (score, group.clone())
    group_of = torch.full((n * m,), -1, dtype=torch.long)
    group_of[used] = best[1]
    pixel_group = group_of[key].reshape(n, *size)
    pixels = F.interpolate(unit, size, mode="nearest").permute(0, 2, 3, 1)
    # A group left without masks starts at a random training position rather
    # than at a zero prototype.
    return torch.stack([F.normalize(pixels[pixel_group == j].sum(0), dim=0)
                        if (pixel_group == j).any() else x[int(torch.randint(0, len(x), (1,), generator=generator))]
                        for j in range(k)])


def primaps_em(feats, masks, start, epochs, generator, batch=32, lr=1e-3, vote_share=0.7,
              starved_share=0.1):
    k, size = start.shape[0], masks.shape[-2:]
    dirs, gains = start.clone().requires_grad_(True), torch.ones(k, requires_grad=True)
    ema_dirs, ema_gains = start.clone(), torch.ones(k)
    adam = torch.optim.Adam([dirs, gains], lr=lr)
    usage, step, updates = torch.zeros(k), 0, 0
    for _ in range(epochs):
        order = torch.randperm(feats.shape[0], generator=generator)
        for b in range(feats.shape[0] // batch):
            idx = order[b * batch:(b + 1) * batch]
            with torch.no_grad():  # E-step with the moving average
                pred = logits(ema_dirs, ema_gains, feats[idx], size).argmax(1)
                votes = mask_votes(pred, masks[idx], k)
                winner = votes.argmax(2)
                share = votes.max(2)[0].float() / votes.sum(2).clamp_min(1).float()
                flat_masks = masks[idx].reshape(len(idx), -1)
                pseudo = torch.gather(winner, 1, flat_masks).reshape(masks[idx].shape)
                mixed = torch.gather(share < vote_share, 1, flat_masks).reshape(masks[idx].shape)
                pseudo[(masks[idx] == 0) | mixed] = IGNORE
                usage += torch.bincount(pseudo[pseudo != IGNORE], minlength=k).float()
            out = logits(dirs, gains, feats[idx], size)
            with torch.no_grad():
                focal = (1 - out.softmax(1).mean((0, 2, 3))) ** 2
            loss = F.cross_entropy(out, pseudo, weight=focal, ignore_index=IGNORE, reduction="none").mean()
            adam.zero_grad()
            loss.backward()
            adam.step()
            step += 1
            if step % 10:
                continue
            decay = 0.0 if updates <= 1 else min(0.98, 1 - 1 / (updates + 1))
            updates += 1
            with torch.no_grad():
                ema_dirs.lerp_(dirs, 1 - decay)
                ema_gains.lerp_(gains, 1 - decay)
                starved = usage < starved_share * usage.sum() / k
                for j in torch.nonzero(starved).ravel().tolist():  # take the largest cluster's worst mask
                    big = int(usage.argmax())
                    feats_up = F.interpolate(feats[idx], size, mode="bilinear", align_corners=False)
                    key = (torch.arange(len(idx))[:, None, None] * (int(masks[idx].max()) + 1) + masks[idx]).ravel()
                    sel = pseudo.ravel() == big
                    c = feats.shape[1]
                    sums = torch.zeros(int(key.max()) + 1, c).index_add_(
                        0, key[sel], feats_up.permute(0, 2, 3, 1).reshape(-1, c)[sel])
                    means = F.normalize(sums[sums.abs().sum(1) > 0], dim=1)
                    if not len(means):
                        continue
                    worst = means[(means @ F.normalize(dirs[big], dim=0)).argmin()]
                    dirs[j] = worst * dirs[big].norm()
                    gains[j] = gains.mean()
                    ema_dirs[j], ema_gains[j] = dirs[j], gains[j]
                    adam.state[dirs]["exp_avg"][j] = 0
                    adam.state[dirs]["exp_avg_sq"][j] = 0
                usage.zero_()
    return ema_dirs, ema_gains


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--ridge", type=float, default=0.3)
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--label-size", type=int, default=80)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=0,
                        help="also start from the best of R Lloyd restarts by the objective "
                             "and by the fewest shared mask pairs (sessions 12, 13)")
    parser.add_argument("--texton-words", type=int, default=0,
                        help="also start from masks grouped by texton histograms (session 13)")
    parser.add_argument("--trial-epochs", type=int, default=0,
                        help="also print the objective after this many EM epochs (session 14's trial)")
    parser.add_argument("--starved-share", type=float, default=0.1,
                        help="re-seed prototypes below this share of their fair part (0.25 until session 14)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    feats, masks, labels, val_feats, val_labels, classes = load(args.dir, args.label_size)
    if args.ridge > 0:
        feats, val_feats = whiten(feats, val_feats, args.ridge)
    x, y = sample_positions(feats, labels, torch.Generator().manual_seed(0))
    objective = lambda d: (x @ F.normalize(d, dim=1).t()).max(1)[0].mean().item()
    class_means = torch.stack([F.normalize(x[y == j].sum(0), dim=0) for j in range(classes)])
    starts = [("class means", class_means), ("Lloyd from class means", lloyd(x, class_means))]
    for seed in (int(s) for s in args.seeds.split(",")):
        seeded = kmeanspp(x, classes, torch.Generator().manual_seed(seed))
        starts += [(f"k-means++ seed {seed}", seeded), (f"Lloyd seed {seed}", lloyd(x, seeded))]
        if args.restarts:
            draws = torch.Generator().manual_seed(seed)
            runs = [lloyd(x, kmeanspp(x, classes, draws)) for _ in range(args.restarts)]
            best = max(runs, key=objective)
            fewest = min(runs, key=lambda r: mask_pairs_shared(r, feats, masks))
            starts += [(f"best objective seed {seed}", best), (f"fewest pairs seed {seed}", fewest)]
            print(f"seed {seed}: paired t of the fewest pairs against the best objective "
                  f"{paired_t(best, fewest, feats, masks):.2f}", flush=True)
        if args.texton_words:
            starts.append((f"texton start seed {seed}",
                           texton_start(feats, masks, x, classes, args.texton_words,
                                        torch.Generator().manual_seed(seed))))
    print(f"{args.dir}: {classes} classes, ridge {args.ridge}, labels at {args.label_size or 'full size'}")
    for name, start in starts:
        begun = time.time()
        dirs, gains = primaps_em(feats, masks, start, args.epochs, torch.Generator().manual_seed(1000),
                                 starved_share=args.starved_share)
        trial = ""
        if args.trial_epochs:
            trial_dirs, _ = primaps_em(feats, masks, start, args.trial_epochs,
                                       torch.Generator().manual_seed(1000), starved_share=args.starved_share)
            trial = f"  objective after {args.trial_epochs} epochs {objective(trial_dirs):.4f}"
        before, _ = miou(start, torch.ones(classes), val_feats, val_labels, classes)
        after, shares = miou(dirs, gains, val_feats, val_labels, classes)
        print(f"{name:24s} mIoU {before:5.1f} -> {after:5.1f}  objective {objective(start):.4f} -> "
              f"{objective(dirs):.4f}  mask purity {mask_purity(start, feats, masks):.3f} -> "
              f"{mask_purity(dirs, feats, masks):.3f}  mask pairs in one cluster "
              f"{mask_pairs_shared(start, feats, masks):.3f} -> {mask_pairs_shared(dirs, feats, masks):.3f}  "
              f"smallest cluster {shares.min():.1f} %{trial}  "
              f"{time.time() - begun:.0f} s", flush=True)


if __name__ == "__main__":
    main()
