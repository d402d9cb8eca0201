"""The models the agent ships, and which card a configuration picks for each model.

The detector, the reader and the screen (a smaller int8 reader that reads
every box first) are package data of :mod:`agent.recognition.models`, so an
installed agent reads plates with no path configured. A config names a card
only to swap a model; ``None`` in ``recognition`` means the shipped one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config.schema import RecognitionConfig

__all__ = ["SHIPPED", "ModelCards", "ShippedModel", "model_cards", "shipped_card", "shipped_models"]

# Role -> card file name in agent/recognition/models/.
SHIPPED = {
    "detector": "detector.card.json",
    "reader": "reader.card.json",
    "screen": "screen.card.json",
}


def shipped_card(role: str) -> Path:
    """The path of the shipped card for ``role`` (``detector``, ``reader``, ``screen``)."""
    where = resources.files("agent.recognition.models") / SHIPPED[role]
    # An installed wheel or a checkout: plain files on disk, which onnxruntime opens by path.
    return Path(str(where))


@dataclass(frozen=True, slots=True)
class ModelCards:
    """The cards one configuration loads: the screen is None when it is turned off."""

    detector: Path
    reader: Path
    screen: Path | None

    def named(self) -> list[tuple[str, Path]]:
        """``(config key, card)`` for each model that will be loaded."""
        pairs = [
            ("recognition.detector_card", self.detector),
            ("recognition.reader_card", self.reader),
        ]
        if self.screen is not None:
            pairs.append(("recognition.screen_card", self.screen))
        return pairs


def model_cards(recognition: RecognitionConfig) -> ModelCards:
    """The cards ``recognition`` names, the shipped ones where it names none."""
    screen = None
    if recognition.screen:
        screen = recognition.screen_card or shipped_card("screen")
    return ModelCards(
        detector=recognition.detector_card or shipped_card("detector"),
        reader=recognition.reader_card or shipped_card("reader"),
        screen=screen,
    )


@dataclass(frozen=True, slots=True)
class ShippedModel:
    """What ``anpr-agent --version`` says about one shipped model."""

    role: str
    name: str
    version: str
    sha256: str  # the card's
    intact: bool  # the model file beside the card has that sha256


def shipped_models() -> list[ShippedModel]:
    """Name, version and sha256 of each shipped model, as its card states them.

    ``intact`` says whether the model file beside the card hashes to the card's
    sha256. A card that cannot be read shows as ``?`` rather than hiding the others.
    """
    out = []
    for role in SHIPPED:
        card = shipped_card(role)
        try:
            raw = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        digest = str(raw.get("sha256", "?"))
        try:
            actual = hashlib.sha256((card.parent / str(raw.get("model"))).read_bytes()).hexdigest()
        except OSError:
            actual = ""
        out.append(
            ShippedModel(
                role,
                str(raw.get("name", "?")),
                str(raw.get("version", "?")),
                digest,
                intact=actual == digest,
            )
        )
    return out
