#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the checkpoint-reader fixtures of tests/core/tst_checkpoint.cpp.

Run once with Debian's python3-torch (1.13) from this folder:
    /usr/bin/python3 make_fixtures.py
The outputs are committed; the tests never run Python. Every value is fixed
(no random numbers), so the C++ test can state the expected numbers directly.
"""
import argparse
import collections
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


class Tiny(torch.nn.Module):
    """Linear + LayerNorm + BatchNorm: float parameters, an int64 buffer and
    the OrderedDict-with-_metadata layout that state_dict() returns."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.norm = torch.nn.LayerNorm(2)
        self.bn = torch.nn.BatchNorm1d(2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.arange(6, dtype=torch.float32).view(2, 3) * 0.5 - 1.0)
            self.fc.bias.copy_(torch.tensor([0.25, -0.75]))
            self.norm.weight.copy_(torch.tensor([1.5, 2.5]))
            self.norm.bias.copy_(torch.tensor([-0.5, 0.125]))
            self.bn.running_mean.copy_(torch.tensor([0.1, 0.2]))
            self.bn.running_var.copy_(torch.tensor([1.1, 1.2]))
            self.bn.num_batches_tracked.fill_(7)


def ordered():
    sd = Tiny().state_dict()
    assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata")
    torch.save(sd, path("ordered.pth"))


def dtypes():
    values = [-2.5, -1.0, 0.0, 0.5, 1.0, 3.0]
    sd = collections.OrderedDict()
    sd["f32"] = torch.tensor(values, dtype=torch.float32)
    sd["f16"] = torch.tensor(values, dtype=torch.float16).view(2, 3)
    sd["bf16"] = torch.tensor(values, dtype=torch.bfloat16).view(3, 2)
    sd["f64"] = torch.tensor(values, dtype=torch.float64)
    sd["i64"] = torch.tensor([-3, 0, 5, 1 << 40], dtype=torch.int64)
    sd["i32"] = torch.tensor([-7, 0, 9], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 0, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(4.5)
    torch.save(sd, path("dtypes.pth"))


def nested():
    """A DINO-style training checkpoint: the weights sit in 'teacher' and
    'student' with 'module.backbone.' prefixes next to a projection head, an
    epoch counter and the argparse namespace of the run."""
    def branch(offset):
        sd = collections.OrderedDict()
        sd["module.backbone.pos_embed"] = torch.arange(4, dtype=torch.float32).view(1, 2, 2) + offset
        sd["module.backbone.norm.weight"] = torch.full((2,), 1.0 + offset)
        sd["module.head.last_layer.weight_g"] = torch.ones(3, 1)
        return sd
    ckpt = {
        "student": branch(100.0),
        "teacher": branch(0.0),
        "epoch": 3,
        "args": argparse.Namespace(arch="vit_small", patch_size=8, lr=0.0005, use_fp16=True),
        "dino_loss": {"center": torch.zeros(1, 3)},
    }
    torch.save(ckpt, path("nested.pth"))


def shared():
    """Views of one storage with offsets and non-contiguous strides."""
    base = torch.arange(24, dtype=torch.float32)
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["rows"] = base[4:16].view(3, 4)          # offset 4
    sd["transposed"] = base.view(4, 6).t()      # strides (1, 6)
    sd["every_third"] = base[1::3]              # offset 1, stride 3
    sd["picked"] = base.view(2, 3, 4)[:, 1, ::2]  # offset 4, strides (12, 2)
    sd["empty"] = base[5:5]
    torch.save(sd, path("shared.pth"))


class Evil:
    """Pickles as a call of os.system: loading it with pickle would run a shell."""

    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran a command",))


def evil():
    torch.save({"weight": torch.zeros(2), "payload": Evil()}, path("evil.pth"))


def legacy():
    torch.save(collections.OrderedDict(w=torch.ones(2)), path("legacy.pth"),
               _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    ordered()
    dtypes()
    nested()
    shared()
    evil()
    legacy()
    total = sum(os.path.getsize(path(n)) for n in os.listdir(HERE) if n.endswith(".pth"))
    print(f"fixtures written, {total} bytes in all")
