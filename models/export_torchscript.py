#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Export a backbone to the TorchScript contract of PriMaPs Studio's `torchscript` backbone.

The contract: forward(x) maps a 1 x 3 x H x W float32 image, normalised with the
ImageNet mean and std after x/255, to a 1 x C x H/p x W/p feature tensor, for any H
and W that are multiples of the patch size p. The exported module also carries the
integer attributes `patch_size` and `resize` and the float `threshold`, which the
application uses as defaults.

PriMaPs Studio reads the six catalogued DINO / DINOv2 checkpoints natively; this script
is for everything else, e.g. a DINO backbone followed by a STEGO- or HP-style
segmentation head for the paper's "+SotA+PriMaPs" rows:

    # a DINO / DINOv2 checkpoint as is (same features as the native backbone)
    python3 export_torchscript.py --weights dino_deitsmall8_pretrain.pth --out dino_vits8.pt

    # with a head: any TorchScript module mapping 1 x C x h x w to 1 x C' x h x w
    # (e.g. STEGO's projection head, scripted or traced from its own repository)
    python3 export_torchscript.py --weights dino_vitbase8_pretrain.pth \
        --head stego_head.pt --out dino_vitb8_stego.pt

Requires Python 3 and PyTorch (>= 1.13); no other package. The ViT below is written
for this project after the reference implementations (facebookresearch/dino and
facebookresearch/dinov2): pre-norm blocks, LayerNorm eps 1e-6, exact GELU, DINOv2's
LayerScale and query scaling, and the references' bicubic positional-embedding
interpolation with its +0.1 offset. It is scriptable, so unlike a traced model it
accepts any image size.
"""
import argparse
import collections
import math
import re
import sys
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def load_state_dict(path: str, section: str = "") -> Dict[str, Tensor]:
    """The backbone tensors of a checkpoint: the file's top level or its 'teacher',
    'model', 'state_dict', 'student' or 'module' part, with 'module.' removed and, when
    present, only the 'backbone.' keys kept (without the prefix)."""
    obj = torch.load(path, map_location="cpu")
    if section:
        for part in section.split("."):
            obj = obj[part]
    for _ in range(8):
        if isinstance(obj, dict) and any(isinstance(v, Tensor) for v in obj.values()):
            break
        for key in ("teacher", "model", "state_dict", "student", "module"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        else:
            raise SystemExit(f"{path}: no dictionary of tensors found")
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    if any(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    # DINOv2 training checkpoints chunk their blocks: blocks.<chunk>.<i>.x -> blocks.<i>.x
    return {re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k): v.float() for k, v in sd.items()}


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, layer_scale: bool, scale_queries: bool):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5
        self.scale_queries = scale_queries
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, hidden)
        self.mlp.fc2 = nn.Linear(hidden, dim)
        self.layer_scale = layer_scale
        self.ls1 = nn.Module()
        self.ls2 = nn.Module()
        self.ls1.gamma = nn.Parameter(torch.ones(dim), requires_grad=False)
        self.ls2.gamma = nn.Parameter(torch.ones(dim), requires_grad=False)

    def attention(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.attn.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.scale_queries:  # DINOv2
            logits = (q * self.scale) @ k.transpose(-2, -1)
        else:  # DINO
            logits = (q @ k.transpose(-2, -1)) * self.scale
        out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.attn.proj(out)

    def forward(self, x: Tensor) -> Tensor:
        y = self.attention(self.norm1(x))
        if self.layer_scale:
            y = y * self.ls1.gamma
        x = x + y
        y = self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
        if self.layer_scale:
            y = y * self.ls2.gamma
        return x + y


class ViTFeatures(nn.Module):
    """A DINO or DINOv2 ViT returning the last block's normed patch tokens as 1 x C x h x w."""

    patch_size: int
    resize: int
    threshold: float

    def __init__(self, sd: Dict[str, Tensor], heads: int = 0):
        super().__init__()
        dim, _, p, _ = sd["patch_embed.proj.weight"].shape
        depth = 1 + max(int(m.group(1)) for k in sd for m in [re.match(r"blocks\.(\d+)\.", k)] if m)
        hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
        layer_scale = "blocks.0.ls1.gamma" in sd
        dinov2 = layer_scale or "mask_token" in sd
        heads = heads or dim // 64
        self.patch_size = int(p)
        self.resize = 322 if p == 14 else 320
        self.threshold = 0.4
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim), requires_grad=False)
        self.pos_embed = nn.Parameter(torch.zeros_like(sd["pos_embed"]), requires_grad=False)
        self.blocks = nn.ModuleList(
            [Block(dim, heads, hidden, layer_scale, dinov2) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        own = self.state_dict()
        wanted = {k: v for k, v in sd.items() if k in own}
        missing = [k for k in own if k not in wanted and not (".ls" in k and not layer_scale)]
        unexpected = [k for k in sd if k not in own and k != "mask_token" and not k.startswith("head.")]
        if missing or unexpected:
            raise SystemExit(f"not a DINO/DINOv2 ViT: missing {missing[:5]}, unexpected {unexpected[:5]}")
        self.load_state_dict(wanted, strict=False)

    def positional_embedding(self, rows: int, cols: int, height: int, width: int) -> Tensor:
        n = self.pos_embed.shape[1] - 1
        if rows * cols == n and height == width:
            return self.pos_embed
        m = math.sqrt(n)
        side = int(m)
        dim = self.pos_embed.shape[2]
        grid = self.pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
        # The references' interpolation: bicubic, scale factor (n + 0.1) / M.
        grid = F.interpolate(grid, scale_factor=[(rows + 0.1) / m, (cols + 0.1) / m],
                             mode="bicubic", align_corners=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
        return torch.cat((self.pos_embed[:, :1], grid), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[2], x.shape[3]
        rows, cols = height // self.patch_size, width // self.patch_size
        t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1), t), dim=1)
        t = t + self.positional_embedding(rows, cols, height, width)
        for block in self.blocks:
            t = block(t)
        t = self.norm(t)[:, 1:]
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], rows, cols)


class WithHead(nn.Module):
    patch_size: int
    resize: int
    threshold: float

    def __init__(self, backbone: ViTFeatures, head: torch.jit.ScriptModule):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.patch_size = backbone.patch_size
        self.resize = backbone.resize
        self.threshold = backbone.threshold

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="DINO / DINOv2 checkpoint (.pth)")
    parser.add_argument("--section", default="", help="sub-dictionary, e.g. 'student'")
    parser.add_argument("--heads", type=int, default=0, help="attention heads (default dim/64)")
    parser.add_argument("--head", help="TorchScript head applied to the 1 x C x h x w features")
    parser.add_argument("--threshold", type=float, help="recommended PriMaPs threshold")
    parser.add_argument("--out", required=True, help="output TorchScript file (.pt)")
    args = parser.parse_args(argv)

    model = ViTFeatures(load_state_dict(args.weights, args.section), args.heads).eval()
    if args.threshold is not None:
        model.threshold = args.threshold
    if args.head:
        model = WithHead(model, torch.jit.load(args.head, map_location="cpu")).eval()
    scripted = torch.jit.script(model)
    p = model.patch_size
    probe = torch.zeros(1, 3, 2 * p, 3 * p)
    out = scripted(probe)
    if out.dim() != 4 or tuple(out.shape[2:]) != (2, 3):
        raise SystemExit(f"the exported module maps {tuple(probe.shape)} to {tuple(out.shape)}")
    scripted.save(args.out)
    print(f"{args.out}: {out.shape[1]}-d features, patch {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
