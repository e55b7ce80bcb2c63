#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the ViT fixtures of tests/core/tst_vit.cpp and tst_torchscript.cpp.

Run once with Debian's python3-torch (1.13) from this folder:
    /usr/bin/python3 make_fixtures.py
The outputs are committed; the tests never run Python.

Two tiny ViTs (depth 2, 16-d tokens, 2 heads) with seeded random weights in the official
key layouts: DINO v1 (patch 8, 4 x 4 pre-training grid) and DINOv2 (patch 14, 5 x 5 grid,
LayerScale, mask_token). Their features are computed here by `reference_features`, a
direct re-statement of the reference forward passes (facebookresearch/dino
vision_transformer.py, facebookresearch/dinov2 dinov2/models/vision_transformer.py and
dinov2/layers) in plain torch.nn.functional calls, head by head, in float32 as the
references run; and, as a cross-check, by models/export_torchscript.py's scriptable ViT.
The weights are scaled up from the references' initialisation so that attention,
LayerScale and positional embeddings visibly matter.

The input image is the same formula in the C++ test: value(y, x, c) =
(37 y + 11 x + 101 c + 13 ((x y) mod 7)) mod 256, RGB, normalised as imagenetNormalize().
"""
import collections
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "models"))
import export_torchscript  # noqa: E402

DIM, DEPTH, HEADS, HIDDEN = 16, 2, 2, 64

# (family, patch, pre-training grid side, storage dtype, sizes (H, W) to reference).
# The DINOv2 file is stored in float16 (half the bytes; the loader widens it to float32,
# and the references are computed from the same rounded values).
MODELS = {
    "dino_tiny": ("dino", 8, 4, torch.float32, [(32, 32), (24, 56), (48, 48)]),
    "dinov2_tiny": ("dinov2", 14, 5, torch.float16, [(70, 70), (42, 98), (56, 56)]),
}


def tiny_state_dict(family, patch, grid, seed):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    v2 = family == "dinov2"
    sd = collections.OrderedDict()
    sd["cls_token"] = randn(1, 1, DIM, std=0.5)
    sd["pos_embed"] = randn(1, 1 + grid * grid, DIM, std=0.5)
    if v2:
        sd["mask_token"] = randn(1, DIM, std=0.5)
    sd["patch_embed.proj.weight"] = randn(DIM, 3, patch, patch, std=1.0 / patch)
    sd["patch_embed.proj.bias"] = randn(DIM, std=0.1)
    for i in range(DEPTH):
        p = f"blocks.{i}."
        sd[p + "norm1.weight"] = randn(DIM, std=0.2, mean=1.0)
        sd[p + "norm1.bias"] = randn(DIM, std=0.1)
        sd[p + "attn.qkv.weight"] = randn(3 * DIM, DIM, std=0.5)
        sd[p + "attn.qkv.bias"] = randn(3 * DIM, std=0.1)
        sd[p + "attn.proj.weight"] = randn(DIM, DIM, std=0.3)
        sd[p + "attn.proj.bias"] = randn(DIM, std=0.1)
        if v2:
            sd[p + "ls1.gamma"] = randn(DIM, std=0.3, mean=0.8)
        sd[p + "norm2.weight"] = randn(DIM, std=0.2, mean=1.0)
        sd[p + "norm2.bias"] = randn(DIM, std=0.1)
        sd[p + "mlp.fc1.weight"] = randn(HIDDEN, DIM, std=0.3)
        sd[p + "mlp.fc1.bias"] = randn(HIDDEN, std=0.1)
        sd[p + "mlp.fc2.weight"] = randn(DIM, HIDDEN, std=0.15)
        sd[p + "mlp.fc2.bias"] = randn(DIM, std=0.1)
        if v2:
            sd[p + "ls2.gamma"] = randn(DIM, std=0.3, mean=0.8)
    sd["norm.weight"] = randn(DIM, std=0.2, mean=1.0)
    sd["norm.bias"] = randn(DIM, std=0.1)
    return sd


def test_image(height, width):
    y = torch.arange(height).view(height, 1, 1)
    x = torch.arange(width).view(1, width, 1)
    c = torch.arange(3).view(1, 1, 3)
    rgb = (37 * y + 11 * x + 101 * c + 13 * ((x * y) % 7)) % 256
    img = rgb.permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32).view(3, 1, 1)
    return ((img - mean) / std).unsqueeze(0)


def reference_features(sd, family, patch, image):
    """The last block's normed patch tokens, C x h x w, as the references compute them."""
    v2 = family == "dinov2"
    _, _, height, width = image.shape
    x = F.conv2d(image, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=patch)
    rows, cols = x.shape[2], x.shape[3]
    x = torch.cat((sd["cls_token"], x.flatten(2).transpose(1, 2)), dim=1)
    n = sd["pos_embed"].shape[1] - 1
    if rows * cols == n and height == width:
        pos = sd["pos_embed"]
    else:
        m = int(math.sqrt(n))
        grid = sd["pos_embed"][:, 1:].reshape(1, m, m, DIM).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, mode="bicubic",
                             scale_factor=((rows + 0.1) / math.sqrt(n), (cols + 0.1) / math.sqrt(n)))
        assert grid.shape[2:] == (rows, cols)
        pos = torch.cat((sd["pos_embed"][:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, DIM)), dim=1)
    x = x + pos
    hd = DIM // HEADS
    scale = hd ** -0.5
    for i in range(DEPTH):
        p = f"blocks.{i}."
        y = F.layer_norm(x, (DIM,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])[0]
        heads = []
        for h in range(HEADS):
            q = qkv[:, h * hd:(h + 1) * hd]
            k = qkv[:, DIM + h * hd:DIM + (h + 1) * hd]
            v = qkv[:, 2 * DIM + h * hd:2 * DIM + (h + 1) * hd]
            logits = (q * scale) @ k.T if v2 else (q @ k.T) * scale
            heads.append(logits.softmax(dim=-1) @ v)
        y = F.linear(torch.cat(heads, dim=1), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        if v2:
            y = y * sd[p + "ls1.gamma"]
        x = x + y
        y = F.layer_norm(x, (DIM,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
                     sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        if v2:
            y = y * sd[p + "ls2.gamma"]
        x = x + y
    x = F.layer_norm(x, (DIM,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    return x[0, 1:].T.reshape(DIM, rows, cols).contiguous()


def main():
    torch.set_num_threads(1)
    with torch.no_grad():
        for seed, (name, (family, patch, grid, dtype, sizes)) in enumerate(MODELS.items()):
            stored = collections.OrderedDict(
                (k, v.to(dtype)) for k, v in tiny_state_dict(family, patch, grid, 2024 + seed).items())
            torch.save(stored, os.path.join(HERE, name + ".pth"))
            sd = collections.OrderedDict((k, v.float()) for k, v in stored.items())
            scripted = torch.jit.script(export_torchscript.ViTFeatures(dict(sd), heads=HEADS).eval())
            for height, width in sizes:
                image = test_image(height, width)
                ref = reference_features(sd, family, patch, image)
                check = scripted(image)[0]
                diff = (ref - check).abs().max().item()
                assert diff < 1e-5, f"{name} {height}x{width}: export script differs by {diff}"
                np.save(os.path.join(HERE, f"{name}_{height}x{width}.npy"), ref.numpy())
                print(f"{name} {height}x{width}: features {tuple(ref.shape)}, "
                      f"|ref| max {ref.abs().max().item():.3f}, export script within {diff:.1e}")
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE)
                if not f.endswith(".py"))
    print(f"fixtures written, {total} bytes in all")


if __name__ == "__main__":
    main()
