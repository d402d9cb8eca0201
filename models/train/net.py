"""The reader network: a small conv-only CTC recognizer over A-Z0-9.

Conv-only (no LSTM) because inference must stay under ~3 ms a crop on one edge
core: about 94 M multiply-adds at 32x128 (0.58 M parameters). Height is pooled
away to a 32-step sequence (4 input pixels a step); a 1x3 context layer lets
neighbouring steps agree before the per-step classifier. The exported graph ends in a softmax, so
the agent's decoder reads probabilities directly.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _collapse(cin: int, cout: int, rows: int) -> list[nn.Module]:
    """Collapse the remaining ``rows`` of height, then a 1x3 context layer along the plate."""
    return [
        nn.Conv2d(cin, cout, (rows, 1), bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, (1, 3), padding=(0, 1), bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class _CtcReader(nn.Module):
    """What every reader shares: ``features`` to N x C x 1 x T, dropout, a 1x1 classifier."""

    features: nn.Sequential
    dropout: nn.Dropout
    head: nn.Conv2d
    softmax_out: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N x T x C (probabilities when ``softmax_out``)."""
        y = self.head(self.dropout(self.features(x)))  # N x C x 1 x T
        y = y.squeeze(2).permute(0, 2, 1)
        return torch.softmax(y, dim=-1) if self.softmax_out else y


class ReaderNet(_CtcReader):
    """N x 1 x 32 x 128 normalised grey -> N x 32 x classes logits (or probabilities)."""

    def __init__(self, classes: int = 37, widths: tuple[int, ...] = (32, 64, 96, 128, 192)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            _block(1, c1),
            nn.MaxPool2d(2),  # 16 x 64
            _block(c1, c2),
            nn.MaxPool2d(2),  # 8 x 32
            _block(c2, c3),
            _block(c3, c3),
            nn.MaxPool2d((2, 1)),  # 4 x 32
            _block(c3, c4),
            _block(c4, c4),
            nn.MaxPool2d((2, 1)),  # 2 x 32
            *_collapse(c4, c5, 2),
        )
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Conv2d(c5, classes, 1)
        self.softmax_out = False  # set for export


class WideReaderNet(_CtcReader):
    """N x 1 x 48 x 192 normalised grey -> N x 48 x classes logits (or probabilities).

    The larger reader: 1.5x the input side of ``ReaderNet`` (plates seen at 48 px
    high keep the strokes that tell 8 from B and W from M) and wider layers, about
    214 M multiply-adds and 0.85 M parameters (~3.4 ms a crop on one core). Width
    is pooled by 4, so a 192 px crop gives 48 CTC steps; height is pooled to 3 rows
    and collapsed by a 3x1 convolution.
    """

    def __init__(
        self,
        classes: int = 37,
        widths: tuple[int, ...] = (24, 48, 96, 128, 160, 192, 192),
        height: int = 48,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4, c5, c6, c7 = widths
        rows = height // 16  # height after the four halvings
        self.features = nn.Sequential(
            _block(1, c1),
            nn.MaxPool2d(2),  # 24 x 96
            _block(c1, c2),
            nn.MaxPool2d(2),  # 12 x 48
            _block(c2, c3),
            nn.MaxPool2d((2, 1)),  # 6 x 48
            _block(c3, c4),
            _block(c4, c5),
            nn.MaxPool2d((2, 1)),  # 3 x 48
            _block(c5, c6),
            *_collapse(c6, c7, rows),
        )
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Conv2d(c7, classes, 1)
        self.softmax_out = False  # set for export


# Architectures a run plan may name: (class, input height, input width).
ARCHS: dict[str, tuple[type[nn.Module], int, int]] = {
    "reader32": (ReaderNet, 32, 128),
    "reader48": (WideReaderNet, 48, 192),
}


def build(arch: str, classes: int, widths: list[int] | None = None) -> nn.Module:
    """The network a plan names (``widths`` overrides the architecture's default)."""
    cls, height, _ = ARCHS[arch]
    if cls is WideReaderNet:
        return WideReaderNet(classes, tuple(widths), height) if widths else WideReaderNet(classes)
    return ReaderNet(classes, tuple(widths)) if widths else ReaderNet(classes)
