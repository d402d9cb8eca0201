"""One frame in, sightings out: detector → ROI and size filter → rectify → reader.

``rectify`` warps a detected plate's four corners to an upright crop with the
plate's own aspect (plus a small margin, because the reader was trained on
crops that show a little of the bumper), so rotated and sheared plates reach the
reader as the flat strips it reads best. All crops of one frame are read in
one batch.

A busy frame gives a dozen boxes, most of them grilles, signs and lamps, and
reading them is most of a frame's cost. With a *screen* (a cheaper twin of the
reader, e.g. the shipped int8 ``screen.onnx``) every box is first read by the
screen at a lower confidence bar (``SCREEN_MARGIN`` below the reader's), and
only the boxes it reads as a plate are read by the reader: the reads reported
are the reader's own. With ``vote_screen`` the screen's outputs of a crop are
also a vote (``PlateReader.read_fused``): the screen may be another, smaller
model than the reader, and two models that err on different strokes read
together better than either (models/README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.core.events import PlateBox, PlateText, Sighting
from agent.core.geometry import iou
from agent.recognition.reader import ReaderCard, ReaderError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from agent.recognition.detector import PlateDetector
    from agent.recognition.reader import PlateReader, Views

    Cuts = list[Views]  # one crop's outputs, once for each model (or cut) that read it

__all__ = [
    "PHOTO_SECOND_LOOK",
    "Recognizer",
    "RecognizerSettings",
    "box_crop",
    "check_votable",
    "plausibility",
    "rectify",
]

MARGIN_X = 0.10  # of the plate width, each side
MARGIN_Y = 0.20  # of the plate height, each side
MAX_CROP_WIDTH = 320  # the reader stretches to 128 px anyway; bigger warps are wasted
# ``vote_box``: the upright rectangle around a plate's box, this much wider and taller
# each side (of the box's own width and height).
BOX_MARGIN = 0.10
# The screen passes a box when its read's mean confidence is within this of the reader's
# threshold: on real-dev (reader 0.3.0 and its int8 twin) 0.15 keeps every top-1 read.
SCREEN_MARGIN = 0.15
PHOTO_SECOND_LOOK = 768  # `anpr-agent read`: real-dev fr top-1 77.3 -> 79.6 % (models/README)
# The second look also searches at this share of the detector's own long side, and both
# of its searches keep boxes down to this share of the detector's threshold: real-dev
# fr top-1 (reader 0.6.0) 84.4 -> 84.8 % for each, 85.3 % together (models/README).
SECOND_LOOK_SMALL = 0.75
SECOND_LOOK_BAR = 0.5
SAME_BOX = 0.3  # IoU above which two searches' boxes are the same plate
# ``fuse``: the refined box also cut this much looser and tighter (width, height factors
# about its centre). Real-dev fr top-1 with reader 0.5.0 80.1 -> 81.0 %, with 0.6.0
# unchanged at 84.4 % (models/README): off by default.
FUSE_CUTS = ((1.05, 1.10), (0.95, 0.90))


def rectify(image: npt.NDArray[np.uint8], box: PlateBox) -> npt.NDArray[np.uint8]:
    """The plate under ``box`` as an upright crop of the plate's own aspect, with a margin."""
    quad = np.array(box.corners, np.float32)
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    w = max(float(top + bottom) / 2, 4.0)
    h = max(float(left + right) / 2, 2.0)
    mx, my = MARGIN_X * w, MARGIN_Y * h
    out_w, out_h = w + 2 * mx, h + 2 * my
    shrink = min(1.0, MAX_CROP_WIDTH / out_w)
    size = (max(8, round(out_w * shrink)), max(4, round(out_h * shrink)))
    # Plate corners land inside the crop at the margin; the warp pulls in the surroundings.
    dst = np.array([[mx, my], [mx + w, my], [mx + w, my + h], [mx, my + h]], np.float32) * float(
        shrink
    )
    hom = cv2.getPerspectiveTransform(quad, dst)
    flags = cv2.INTER_AREA if shrink < 1 else cv2.INTER_LINEAR
    crop = cv2.warpPerspective(image, hom, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(crop, np.uint8)


def box_crop(image: npt.NDArray[np.uint8], box: PlateBox) -> npt.NDArray[np.uint8]:
    """The upright rectangle around ``box`` with ``BOX_MARGIN`` each side, clipped to the image.

    No warp and no corners: what it shows does not depend on how well the
    corners fit the plate, only on where the box is.
    """
    x, y, w, h = box.xywh
    mx, my = round(w * BOX_MARGIN), round(h * BOX_MARGIN)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(image.shape[1], x + w + mx), min(image.shape[0], y + h + my)
    return np.ascontiguousarray(image[y0:y1, x0:x1])


@dataclass(frozen=True, slots=True)
class RecognizerSettings:
    """The per-frame filters (from ``recognition`` in the config)."""

    min_plate_width: int = 60  # frame pixels
    roi: tuple[tuple[float, float], ...] | None = None  # normalised polygon
    refine: bool = True  # also read each box with its corners found again, zoomed
    second_look: int = 0  # > 0: long side of a second search when no read fits a syntax
    fuse: bool = False  # with refine: a box and its refined box that disagree, read as one
    vote_box: bool = False  # each plate also read from its upright box crop, the two voted
    vote_screen: bool = False  # each read also weighs the screen's outputs of the same crop


def check_votable(reader: ReaderCard, screen: ReaderCard) -> None:
    """Raise ``ReaderError`` unless the screen's outputs can be voted with the reader's."""
    if (reader.alphabet, reader.blank) != (screen.alphabet, screen.blank):
        raise ReaderError(
            f"{screen.model_path}: the screen's alphabet or blank is not the reader's "
            f"({reader.model_path}), so their outputs cannot be voted: name a screen_card "
            "for this reader or set recognition.vote_screen = false"
        )


def _in_roi(box: PlateBox, roi: Sequence[tuple[float, float]], width: int, height: int) -> bool:
    cx = sum(c[0] for c in box.corners) / 4
    cy = sum(c[1] for c in box.corners) / 4
    poly = np.array([(x * width, y * height) for x, y in roi], np.float32)
    return cv2.pointPolygonTest(poly, (float(cx), float(cy)), measureDist=False) >= 0


class Recognizer:
    """Detector + reader for one frame; owned by one thread (the sessions are not shared)."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        settings: RecognizerSettings | None = None,
        screen: PlateReader | None = None,
    ) -> None:
        self.detector = detector
        self.reader = reader
        self.settings = settings or RecognizerSettings()
        self.screen = screen
        if self.settings.vote_screen and screen is not None:
            check_votable(reader.card, screen.card)

    def boxes(
        self,
        image: npt.NDArray[np.uint8],
        long_side: int | None = None,
        threshold: float | None = None,
    ) -> list[PlateBox]:
        """The boxes found at ``long_side`` and ``threshold`` that the ROI and width pass."""
        s = self.settings
        h, w = image.shape[:2]
        keep = []
        for box in self.detector.detect(image, long_side, threshold):
            if box.xywh[2] < s.min_plate_width:
                continue
            if s.roi is not None and not _in_roi(box, s.roi, w, h):
                continue
            keep.append(box)
        return keep

    def recognise(self, image: npt.NDArray[np.uint8]) -> list[Sighting]:
        """Every plate in ``image`` with its read (None where the reader is not confident).

        With ``refine`` each box that reads as a plate is also found again zoomed
        (``PlateDetector.refine``) and read again; the read a syntax accepts, then
        the surer one, wins. Refined corners cut small plates better, but a crop a
        few pixels looser or tighter can read worse, and the reader knows which it
        is surer of.

        With ``second_look``, a frame none of whose reads fits a configured syntax is
        searched again at that size and at ``SECOND_LOOK_SMALL`` of the detector's
        own, both keeping boxes down to ``SECOND_LOOK_BAR`` of its threshold; their
        plates join the first search's (a plate found twice keeps the later search's
        sighting). At the detector's own 512 px a plate on a body of its own
        brightness (a white plate on a white car) can stay below the detector's
        threshold, larger or smaller it may not, and the reader still has to accept
        what the lower bar lets through; a frame that already has a valid read costs
        nothing more.

        With ``fuse`` (and ``refine``), a box and its refined box that read
        differently, one of them syntax-valid, are read as one from four cuts
        (``PlateReader.read_fused``) instead of keeping the surer read.
        """
        found = self._at(image, None)
        look = self.settings.second_look
        if look <= 0 or any(s.text is not None and s.text.country is not None for s in found):
            return found
        bar = self.detector.threshold * SECOND_LOOK_BAR
        for side in (look, round(self.detector.card.long_side * SECOND_LOOK_SMALL)):
            again = self._at(image, side, bar)
            rest = [s for s in found if all(iou(s.box.xywh, t.box.xywh) < SAME_BOX for t in again)]
            found = again + rest
        return found

    def _at(
        self, image: npt.NDArray[np.uint8], long_side: int | None, threshold: float | None = None
    ) -> list[Sighting]:
        sightings, outputs = self._screened(image, self.boxes(image, long_side, threshold))
        if not self.settings.refine:
            return sightings
        # Only boxes that read as a plate are worth a second look: most boxes of a busy
        # frame are grilles and signs, and refining them would double the frame's cost.
        refined = {
            i: box
            for i, s in enumerate(sightings)
            if s.text is not None and (box := self.detector.refine(image, s.box)) != s.box
        }  # a box refine gave back unchanged would only read the same crop again
        again, again_outputs = self._read(image, list(refined.values()))
        for i, second, cuts in zip(refined, again, again_outputs, strict=True):
            first = sightings[i]
            if self.settings.fuse and _worth_fusing(first, second):
                sightings[i] = self._fused(image, (first, outputs[i]), (second, cuts))
                outputs.pop(i)  # read from four cuts already
            elif plausibility(second) > plausibility(first):
                sightings[i], outputs[i] = second, cuts
        if self.settings.vote_box:
            self._vote_box(image, sightings, outputs)
        return sightings

    def _vote_box(
        self, image: npt.NDArray[np.uint8], sightings: list[Sighting], outputs: dict[int, Cuts]
    ) -> None:
        """Each plate read again from its upright box crop (``box_crop``); the two voted.

        The rectified crop is only as good as the corners: one a few pixels off
        clips a stroke or shows a screw as a character. The box crop does not use
        them. The two crops' outputs are read as one (``PlateReader.read_fused``):
        the text both find most probable wins, and the sighting keeps the crop
        surer of it. Only reads a syntax accepts pay for the second crop (most
        other reads are signs and grilles), or every read when none does.
        """
        reads = [i for i, s in enumerate(sightings) if s.text is not None and i in outputs]
        valid = [i for i in reads if (t := sightings[i].text) is not None and t.country]
        plates = valid or reads
        if not plates:
            return
        crops = [box_crop(image, sightings[i].box) for i in plates]
        for i, crop, cuts in zip(plates, crops, self._cuts(crops), strict=True):
            fused = self.reader.read_fused([*outputs[i], *cuts])
            if fused is not None:
                s, own = sightings[i], fused[1] < len(outputs[i])  # a cut of the rectified crop
                sightings[i] = Sighting(s.box, fused[0], s.crop if own else crop)

    def _fused(
        self,
        image: npt.NDArray[np.uint8],
        first: tuple[Sighting, Cuts],
        second: tuple[Sighting, Cuts],
    ) -> Sighting:
        """One plate whose box and refined box read differently, read as one.

        The refined box is also cut looser and tighter (``FUSE_CUTS``) and the four
        cuts are read together (``PlateReader.read_fused``): summed likelihoods let
        the cuts outvote one that is sure of a wrong character, where taking the
        surer of two reads cannot. The sighting keeps the cut surest of the read.
        """
        boxes = [_cut(second[0].box, sx, sy) for sx, sy in FUSE_CUTS]
        crops = [rectify(image, b) for b in boxes]
        more = self._cuts(crops)
        # Each box and its crop, once for every cut (model) that read it.
        owners = [(s.box, s.crop, c) for s, cuts in (first, second) for c in cuts] + [
            (b, crop, c) for b, crop, cuts in zip(boxes, crops, more, strict=True) for c in cuts
        ]
        fused = self.reader.read_fused([c for _, _, c in owners])
        if fused is None:  # cannot happen while the first cut reads, but stay total
            return max(first[0], second[0], key=plausibility)
        text, k = fused
        return Sighting(owners[k][0], text, owners[k][1])

    def _screened(
        self, image: npt.NDArray[np.uint8], boxes: list[PlateBox]
    ) -> tuple[list[Sighting], dict[int, Cuts]]:
        """Every box's sighting, and the cuts (outputs) of the boxes the reader read.

        With a screen, only boxes the screen passes reach the reader; with
        ``vote_screen`` the screen's outputs of a passed box are voted with the
        reader's (``PlateReader.read_fused``): two models that err on different
        strokes, for no more model runs.
        """
        screen = self.screen
        if screen is None or not boxes:
            sightings, read = self._read(image, boxes)
            return sightings, dict(enumerate(read))
        # The reader's bar and syntaxes may change at run time (SIGHUP): follow them.
        screen.threshold = max(0.0, self.reader.threshold - SCREEN_MARGIN)
        screen.countries = self.reader.countries
        crops = [rectify(image, b) for b in boxes]
        screened = screen.outputs(crops)
        passed = [i for i, v in enumerate(screened) if screen.read_outputs(v) is not None]
        cuts = self._cuts([crops[i] for i in passed], [screened[i] for i in passed])
        outputs = dict(zip(passed, cuts, strict=True))
        return [
            Sighting(b, self._read_cuts(outputs[i]) if i in outputs else None, c)
            for i, (b, c) in enumerate(zip(boxes, crops, strict=True))
        ], outputs

    def _cuts(
        self, crops: list[npt.NDArray[np.uint8]], screened: list[Views] | None = None
    ) -> list[Cuts]:
        """Each crop's outputs: the reader's, and the screen's too with ``vote_screen``.

        ``screened``: the screen's outputs of ``crops`` where it has read them already.
        """
        if not crops:
            return []
        read = self.reader.outputs(crops)
        if self.screen is None or not self.settings.vote_screen:
            return [[v] for v in read]
        other = self.screen.outputs(crops) if screened is None else screened
        return [[v, w] for v, w in zip(read, other, strict=True)]

    def _read_cuts(self, cuts: Cuts) -> PlateText | None:
        """One crop's read from its cuts: the reader's own, or all of them voted."""
        if len(cuts) == 1:
            return self.reader.read_outputs(cuts[0])
        fused = self.reader.read_fused(cuts)
        return None if fused is None else fused[0]

    def _read(
        self, image: npt.NDArray[np.uint8], boxes: list[PlateBox]
    ) -> tuple[list[Sighting], list[Cuts]]:
        crops = [rectify(image, b) for b in boxes]
        outputs = self._cuts(crops)
        texts = [self._read_cuts(c) for c in outputs]
        return [Sighting(b, t, c) for b, t, c in zip(boxes, texts, crops, strict=True)], outputs


def _worth_fusing(a: Sighting, b: Sighting) -> bool:
    """Two reads of one box that differ, one of which a syntax accepts.

    A syntax-valid read marks a plate, not a sign's or grille's text: those are
    most of the boxes that read at all, and fusing them would only cost time.
    """
    ta, tb = a.text, b.text
    valid = any(t is not None and t.country is not None for t in (ta, tb))
    return valid and (ta is None or tb is None or ta.text != tb.text)


def _cut(box: PlateBox, sx: float, sy: float) -> PlateBox:
    """``box`` scaled about its centre by ``sx`` along the plate's width, ``sy`` its height."""
    q = np.array(box.corners, np.float64)
    centre = q.mean(0)
    axes = np.stack([q[1] + q[2] - q[0] - q[3], q[2] + q[3] - q[0] - q[1]], axis=1)  # columns
    if abs(np.linalg.det(axes)) < 1e-9:
        return box  # a degenerate quad has no width or height to scale along
    coeffs = np.linalg.solve(axes, (q - centre).T) * np.array([[sx], [sy]])
    pts = [(float(x), float(y)) for x, y in (centre[:, None] + axes @ coeffs).T]
    return PlateBox((pts[0], pts[1], pts[2], pts[3]), box.score)


def plausibility(sighting: Sighting) -> tuple[bool, bool, float]:
    """Sort key, higher is more plausible: a read, one a syntax accepts, the surer one."""
    text = sighting.text
    if text is None:
        return (False, False, 0.0)
    return (True, text.country is not None, text.mean_conf)
