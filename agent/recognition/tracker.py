"""Follow plates across frames and turn each vehicle pass into one :class:`PlateRead`.

A pass whose plate was followed but never read becomes an :class:`UnreadPass`
(counted for the civil side, never journaled) when its track looks like a
vehicle crossing the view (enough frames, a real distance travelled) and moved
with no other pass in lockstep (a lamp or a grille boxed beside a plate moves
with that plate's vehicle and is not another vehicle), nor began where another
pass was heading when it was lost (the same plate boxed anew).

Each frame's plate boxes are matched to open tracks (greedy on IoU with the
track's predicted box, then on centre distance for fast, small plates), never
a sure, syntax-valid read to a track whose recent sure reads are of another
plate (the vehicle behind arriving where the one in front left: a piece of the
same plate still fits); a
track unseen for ``timeout_s`` has left the view and is closed: its reads go
through :func:`agent.vote.vote`, its lane comes from the configured zones (or
equal vertical strips), its direction from the plate growing (approaching) or
shrinking (receding), and its best crop is kept as a JPEG, with the overview
image (the vehicle or the frame, :mod:`agent.recognition.overview`) cut from
the same frame when one is configured.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.core.events import PlateRead, UnreadPass
from agent.core.geometry import iou
from agent.recognition.overview import OverviewSettings, cut, encode
from agent.recognition.vote import is_piece, similarity, vote

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from agent.core.events import Direction, PlateBox, PlateText, Sighting

__all__ = ["LaneZone", "Tracker"]

_JPEG_QUALITY = 90
_SAME_PLATE = 0.5  # least similarity of a read to one of a track's recent reads
_RECENT = 3  # reads of a track a new read is compared with
_SURE = 0.95  # mean character confidence of a read that may say "another plate"
_ONE_PLATE = 0.85  # least similarity of two tracks' votes to be one pass's fragments
_LEFT_GRACE_S = 0.3  # unseen this long and predicted out of the frame: the vehicle has left
# An unread track counts as a vehicle when it has at least this many boxes and its plate
# moved at least this many plate widths (a false box on the road furniture stays put;
# one on a passing vehicle is a few frames long). Measured on the simulator's camera.
_UNREAD_MIN_BOXES = 5
_UNREAD_MIN_TRAVEL = 2.0  # plate widths
# Two tracks whose boxes stay this close (in plate widths) while both are seen follow
# one vehicle; a closed pass is remembered this long for that comparison.
_LOCKSTEP_WIDTHS = 2.5
_LOCKSTEP_SHARE = 0.6
_LOCKSTEP_DT_S = 0.1
_REMEMBER_S = 5.0

Pass = PlateRead | UnreadPass


@dataclass(frozen=True, slots=True)
class LaneZone:
    """A lane as a polygon in normalised image coordinates (0..1, x right, y down)."""

    lane: int
    polygon: tuple[tuple[float, float], ...]


def _xywh(box: PlateBox) -> tuple[float, float, float, float]:
    xs = [c[0] for c in box.corners]
    ys = [c[1] for c in box.corners]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


@dataclass
class _Track:
    id: int
    boxes: list[tuple[float, tuple[float, float, float, float]]]  # (mono_s, xywh)
    first_wall_ms: int
    last_wall_ms: int  # the last frame the plate was read in
    seen_wall_ms: int = 0  # the last frame the plate was seen in, read or not
    texts: list[PlateText] = field(default_factory=list)
    lanes: Counter[int] = field(default_factory=Counter)
    best_crop: npt.NDArray[np.uint8] | None = None
    best_overview: npt.NDArray[np.uint8] | None = None  # cut from the best crop's frame
    best_conf: float = -1.0

    @property
    def last_mono(self) -> float:
        return self.boxes[-1][0]

    def moved(self) -> bool:
        """Whether the track crossed enough of the view to be a vehicle's plate."""
        if len(self.boxes) < _UNREAD_MIN_BOXES:
            return False
        (_, (x0, y0, w0, h0)), (_, (x1, y1, w1, h1)) = self.boxes[0], self.boxes[-1]
        travel = float(np.hypot((x1 + w1 / 2) - (x0 + w0 / 2), (y1 + h1 / 2) - (y0 + h0 / 2)))
        width = float(np.median([b[2] for _, b in self.boxes]))
        return travel >= _UNREAD_MIN_TRAVEL * max(width, 1.0)

    def predict(self, mono_s: float) -> tuple[float, float, float, float]:
        t1, (x1, y1, w1, h1) = self.boxes[-1]
        if len(self.boxes) < 2:
            return x1, y1, w1, h1
        t0, (x0, y0, w0, h0) = self.boxes[-2]
        dt = max(t1 - t0, 1e-3)
        k = (mono_s - t1) / dt
        return x1 + (x1 - x0) * k, y1 + (y1 - y0) * k, w1 + (w1 - w0) * k, h1 + (h1 - h0) * k


def _same_plate(track: _Track, text: PlateText | None) -> bool:
    """Whether a read may be of the plate ``track`` follows.

    Only sure, syntax-valid reads on both sides can say "another plate": a
    garbled, partial or doubtful read (small plates misread into a valid text)
    neither splits a track nor keeps the plate's own reads out of the track it
    began (a plate half in view reads as junk first).
    """
    if text is None or not _sure(text):
        return True
    sure = [r for r in track.texts if _sure(r)][-_RECENT:]
    return not sure or any(_alike(r.text, text.text, _SAME_PLATE) for r in sure)


def _sure(text: PlateText) -> bool:
    return text.country is not None and text.mean_conf >= _SURE


def _alike(a: str, b: str, least: float) -> bool:
    """Reads of one plate: at least ``least`` similar, or one a piece of the other."""
    return similarity(a, b) >= least or is_piece(a, b) or is_piece(b, a)


def _lockstep(a: _Track, b: _Track) -> bool:
    """Whether ``a`` and ``b`` moved together (boxes near each other while both were seen)."""
    times = np.array([t for t, _ in b.boxes])
    near = total = 0
    for t, (x, y, w, h) in a.boxes:
        i = int(np.argmin(np.abs(times - t)))
        if abs(times[i] - t) > _LOCKSTEP_DT_S:
            continue
        bx, by, bw, bh = b.boxes[i][1]
        total += 1
        gap = np.hypot((x + w / 2) - (bx + bw / 2), (y + h / 2) - (by + bh / 2))
        near += gap <= _LOCKSTEP_WIDTHS * max(w, bw, 1.0)
    return total >= 2 and near >= _LOCKSTEP_SHARE * total  # two frames at least


def _continues(later: _Track, earlier: _Track, timeout_s: float) -> bool:
    """Whether ``later`` began where ``earlier``, lost a moment ago, was heading."""
    start, (x, y, w, h) = later.boxes[0]
    if not earlier.last_mono <= start <= earlier.last_mono + timeout_s:
        return False
    px, py, pw, ph = earlier.predict(start)
    gap = np.hypot((x + w / 2) - (px + pw / 2), (y + h / 2) - (py + ph / 2))
    return bool(gap <= _LOCKSTEP_WIDTHS * max(w, pw, 1.0))


def _merge(track: _Track, *, into: _Track) -> None:
    """Give ``track``'s reads, lane votes and best crop to ``into`` (its boxes stay its own)."""
    into.texts[:0] = track.texts  # the earlier reads first: ``_same_plate`` looks at the last
    into.lanes.update(track.lanes)
    into.first_wall_ms = min(into.first_wall_ms, track.first_wall_ms)
    into.last_wall_ms = max(into.last_wall_ms, track.last_wall_ms)
    into.seen_wall_ms = max(into.seen_wall_ms, track.seen_wall_ms)
    if track.best_conf > into.best_conf:
        into.best_conf, into.best_crop = track.best_conf, track.best_crop
        into.best_overview = track.best_overview


class Tracker:
    """Associates sightings across frames; not thread-safe (one pipeline thread owns it)."""

    def __init__(  # noqa: PLR0913 - the tracker's geometry and thresholds
        self,
        *,
        frame_size: tuple[int, int],
        lanes: int = 1,
        zones: Sequence[LaneZone] = (),
        timeout_s: float = 1.0,
        min_support: int = 2,
        min_iou: float = 0.05,
        max_jump: float = 2.0,
        overview: OverviewSettings | None = None,
    ) -> None:
        self._width, self._height = frame_size
        self._lanes = lanes
        self._zones = [
            (
                z.lane,
                np.array([(x * self._width, y * self._height) for x, y in z.polygon], np.float32),
            )
            for z in zones
        ]
        self._timeout = timeout_s
        self._min_support = min_support
        self._min_iou = min_iou
        self._max_jump = max_jump
        self._overview = overview or OverviewSettings()
        self._tracks: list[_Track] = []
        self._counted: list[_Track] = []  # passes closed lately, to tell fragments apart
        self._ids = itertools.count(1)

    @property
    def timeout_s(self) -> float:
        """Seconds a track may go unseen before its pass closes."""
        return self._timeout

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        self._timeout = value  # applies from the next frame on (SIGHUP reload)

    @property
    def open_tracks(self) -> int:
        """Vehicles currently in view."""
        return len(self._tracks)

    def update(
        self,
        mono_s: float,
        wall_ms: int,
        sightings: Sequence[Sighting],
        image: npt.NDArray[np.uint8] | None = None,
    ) -> list[Pass]:
        """Add one frame's sightings; return the passes that just ended, read or not.

        ``image`` is the frame the sightings come from, for the overview image.
        """
        unmatched = list(range(len(sightings)))
        pairs = []
        for t_index, track in enumerate(self._tracks):
            predicted = track.predict(mono_s)
            for s_index in unmatched:
                if not _same_plate(track, sightings[s_index].text):
                    continue
                box = _xywh(sightings[s_index].box)
                overlap = iou(predicted, box)
                if overlap >= self._min_iou:
                    pairs.append((1.0 - overlap, t_index, s_index))
                    continue
                dx = (predicted[0] + predicted[2] / 2) - (box[0] + box[2] / 2)
                dy = (predicted[1] + predicted[3] / 2) - (box[1] + box[3] / 2)
                reach = self._max_jump * max(predicted[2], box[2], 1.0)
                distance = float(np.hypot(dx, dy))
                if distance <= reach:
                    pairs.append((1.0 + distance / reach, t_index, s_index))
        pairs.sort()
        used_tracks: set[int] = set()
        used_sightings: set[int] = set()
        for _, t_index, s_index in pairs:
            if t_index in used_tracks or s_index in used_sightings:
                continue
            used_tracks.add(t_index)
            used_sightings.add(s_index)
            self._add(self._tracks[t_index], mono_s, wall_ms, sightings[s_index], image)
        for s_index in unmatched:
            if s_index not in used_sightings:
                track = _Track(next(self._ids), [], wall_ms, wall_ms)
                self._add(track, mono_s, wall_ms, sightings[s_index], image)
                self._tracks.append(track)
        return self.expire(mono_s)

    def expire(self, mono_s: float) -> list[Pass]:
        """Close passes unseen for ``timeout_s`` or gone out of the frame; return them.

        A track that ends while a track of the same plate is still open (the
        detector boxed the plate apart for a while: one line of a two-line plate,
        a jump of the box) hands its reads to that one instead of reading alone.
        """
        ended = [t for t in self._tracks if self._over(t, mono_s)]
        self._tracks = [t for t in self._tracks if not self._over(t, mono_s)]
        return self._end(ended, lambda _: self._tracks)

    def _over(self, track: _Track, mono_s: float) -> bool:
        """Whether ``track``'s pass has ended: unseen for the timeout, or gone out of the frame.

        A plate whose box, carried on at its last speed, has its centre outside the
        frame after ``_LEFT_GRACE_S`` unseen has left the view: waiting the whole
        timeout for it would only delay its read (a stream read should reach the
        back office within a second of the vehicle leaving).
        """
        unseen = mono_s - track.last_mono
        if unseen >= self._timeout:
            return True
        if unseen < _LEFT_GRACE_S or len(track.boxes) < 2:
            return False
        x, y, w, h = track.predict(mono_s)
        cx, cy = x + w / 2, y + h / 2
        return not (0.0 <= cx <= self._width and 0.0 <= cy <= self._height)

    def flush(self) -> list[Pass]:
        """Close every open pass (shutdown), fragments of one pass together."""
        ended, self._tracks = sorted(self._tracks, key=lambda t: t.last_mono), []
        return self._end(ended, lambda i: ended[i + 1 :])

    def _end(
        self, ended: list[_Track], still_open: Callable[[int], Sequence[_Track]]
    ) -> list[Pass]:
        """Read each ended track, or merge it into a track of the same pass still open.

        ``still_open(i)``: the tracks the ``i``-th ended track may hand its reads to.
        """
        passes: list[Pass] = []
        for i, track in enumerate(ended):
            host = self._same_pass(track, still_open(i))
            if host is not None:
                _merge(track, into=host)
            elif (read := self._close(track)) is not None:
                passes.append(read)
                self._remember(track)
            elif self._a_vehicle(track, still_open(i)):
                passes.append(self._unread(track))
                self._remember(track)
        return passes

    def _remember(self, track: _Track) -> None:
        horizon = track.last_mono - _REMEMBER_S
        self._counted = [t for t in self._counted if t.last_mono >= horizon] + [track]

    def _a_vehicle(self, track: _Track, still_open: Sequence[_Track]) -> bool:
        """Whether an unread track is a vehicle of its own (not noise, not a fragment)."""
        if not track.moved():
            return False
        lane = track.lanes.most_common(1)[0][0]
        others = [
            t
            for t in (*still_open, *self._counted)
            if t is not track
            and (t.texts or len(t.boxes) >= _UNREAD_MIN_BOXES)
            and t.lanes.most_common(1)[0][0] == lane
        ]
        return not any(
            _lockstep(track, other)
            or _continues(track, other, self._timeout)
            or _continues(other, track, self._timeout)
            for other in others
        )

    def _unread(self, track: _Track) -> UnreadPass:
        return UnreadPass(
            lane=track.lanes.most_common(1)[0][0],
            direction=self._direction(track),
            wall_ms=track.seen_wall_ms,
        )

    def _same_pass(self, track: _Track, others: Sequence[_Track]) -> _Track | None:
        """A track among ``others`` that followed the same plate at the same time, if any."""
        mine = vote(track.texts)
        if mine is None:
            return None
        lane = track.lanes.most_common(1)[0][0]
        for other in others:
            if not other.texts or other.boxes[0][0] > track.last_mono + self._timeout:
                continue  # nothing read, or began well after this one ended: another vehicle
            if other.lanes.most_common(1)[0][0] != lane:
                continue
            theirs = vote(other.texts)
            # All but one character in eight alike, or one a piece of the other.
            if theirs is not None and _alike(mine.text, theirs.text, _ONE_PLATE):
                return other
        return None

    def _add(
        self,
        track: _Track,
        mono_s: float,
        wall_ms: int,
        sighting: Sighting,
        image: npt.NDArray[np.uint8] | None,
    ) -> None:
        box = _xywh(sighting.box)
        track.boxes.append((mono_s, box))
        track.seen_wall_ms = wall_ms
        track.lanes[self._lane(box)] += 1
        if sighting.text is not None and sighting.text.text:
            # The pass is stamped with the last frame its plate was *read*: unread boxes
            # (a grille of the vehicle behind, a lamp) may keep a track open a little
            # longer, but must not date the read into the next vehicle's pass.
            track.last_wall_ms = wall_ms
            track.texts.append(sighting.text)
            conf = sighting.text.mean_conf
            if sighting.crop is not None and conf > track.best_conf:
                track.best_conf, track.best_crop = conf, sighting.crop
                if image is not None:
                    track.best_overview = cut(image, box, self._overview.mode)

    def _lane(self, box: tuple[float, float, float, float]) -> int:
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        for lane, polygon in self._zones:
            if cv2.pointPolygonTest(polygon, (cx, cy), measureDist=False) >= 0:
                return lane
        strip = int(cx / max(1.0, self._width) * self._lanes)
        return min(max(strip, 0), self._lanes - 1) + 1

    def _direction(self, track: _Track) -> Direction | None:
        boxes = [b for _, b in track.boxes]
        if len(boxes) < 2:
            return None
        head, tail = boxes[: max(1, len(boxes) // 3)], boxes[-max(1, len(boxes) // 3) :]
        growth = np.mean([b[2] for b in tail]) / max(1.0, float(np.mean([b[2] for b in head])))
        if growth > 1.08:
            return "approaching"
        if growth < 1 / 1.08:
            return "receding"
        # Same size: fall back to motion down the image (towards a camera that looks at traffic).
        drift = np.mean([b[1] for b in tail]) - np.mean([b[1] for b in head])
        return "approaching" if drift > 0 else "receding"

    def _close(self, track: _Track) -> PlateRead | None:
        result = vote(track.texts, min_support=self._min_support)
        if result is None:
            return None
        crop = b""
        if track.best_crop is not None:
            ok, jpeg = cv2.imencode(
                ".jpg", track.best_crop, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]
            )
            crop = bytes(jpeg.tobytes()) if ok else b""
        return PlateRead(
            text=result.text,
            char_conf=result.char_conf,
            country=result.country,
            lane=track.lanes.most_common(1)[0][0],
            direction=self._direction(track),
            vehicle_class=None,
            wall_ms=track.last_wall_ms,
            frames=len(track.texts),
            crop_jpeg=crop,
            overview_jpeg=encode(track.best_overview, self._overview),
            seen_ms=track.seen_wall_ms,
        )
