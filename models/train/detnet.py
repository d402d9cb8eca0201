"""The detector network: a tiny CenterNet-style plate finder with four-corner offsets.

Grey input of any size that is a multiple of 32 (the agent letterboxes a frame to
512 px on the long side). A five-stage backbone (stride 32, for the context of
large plates) feeds a light top-down path back to stride 4, where a 3x3 head
predicts a plate-centre heatmap (sigmoid in the exported graph) and, per cell,
the offsets of the four corners from the cell centre in units of ``OFFSET_UNIT``
input pixels. About 0.2 M parameters and ~0.17 G multiply-adds at 512 x 288, so
detection leaves most of a core to the reader.
"""

from __future__ import annotations

import torch
from torch import nn

STRIDE = 4
OFFSET_UNIT = 32.0  # corner offsets are predicted in units of this many input pixels


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class DetectorNet(nn.Module):
    """N x 1 x H x W normalised grey -> N x 9 x H/4 x W/4 (heatmap logit, 8 offsets)."""

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64, 96), neck: int = 24) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.s2 = _conv(1, c1, 2)
        self.s4 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.s8 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3))
        self.s16 = nn.Sequential(_conv(c3, c4, 2), _conv(c4, c4))
        self.s32 = nn.Sequential(_conv(c4, c5, 2), _conv(c5, c5))
        self.lat32 = nn.Conv2d(c5, neck, 1)
        self.lat16 = nn.Conv2d(c4, neck, 1)
        self.lat8 = nn.Conv2d(c3, neck, 1)
        self.lat4 = nn.Conv2d(c2, neck, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Sequential(_conv(neck, neck), nn.Conv2d(neck, 9, 1))
        nn.init.constant_(self.head[1].bias[:1], -4.0)  # start near "no plate anywhere"
        self.sigmoid_out = False  # set for export

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmap logit (probability when ``sigmoid_out``) and 8 corner offsets per cell."""
        f4 = self.s4(self.s2(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p = self.lat32(f32)
        p = self.up(p) + self.lat16(f16)
        p = self.up(p) + self.lat8(f8)
        p = self.up(p) + self.lat4(f4)
        y = self.head(torch.relu(p))
        if self.sigmoid_out:
            return torch.cat([torch.sigmoid(y[:, :1]), y[:, 1:]], dim=1)
        return y
