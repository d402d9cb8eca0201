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


class ReaderNet(nn.Module):
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
            nn.Conv2d(c4, c5, (2, 1), bias=False),  # collapse the height
            nn.BatchNorm2d(c5),
            nn.ReLU(inplace=True),
            nn.Conv2d(c5, c5, (1, 3), padding=(0, 1), bias=False),
            nn.BatchNorm2d(c5),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Conv2d(c5, classes, 1)
        self.softmax_out = False  # set for export

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N x T x C (probabilities when ``softmax_out``)."""
        y = self.head(self.dropout(self.features(x)))  # N x C x 1 x T
        y = y.squeeze(2).permute(0, 2, 1)
        return torch.softmax(y, dim=-1) if self.softmax_out else y
