"""Voting and tracking: one vehicle pass becomes exactly one good read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from agent.core.events import PlateBox, PlateRead, PlateText, Sighting
from agent.core.geometry import iou
from agent.recognition.tracker import LaneZone, Tracker
from agent.recognition.vote import piece_distance, similarity, vote

if TYPE_CHECKING:
    from collections.abc import Iterable

    from agent.core.events import UnreadPass


def _text(text: str, conf: int = 900) -> PlateText:
    return PlateText(text, tuple([conf] * len(text)), "B")


def _plates(passes: Iterable[PlateRead | UnreadPass]) -> list[PlateRead]:
    """The passes, each of which must be a read plate (an unread pass fails the test)."""
    out = list(passes)
    assert all(isinstance(p, PlateRead) for p in out), out
    return [p for p in out if isinstance(p, PlateRead)]


def test_five_noisy_reads_vote_to_the_right_plate() -> None:
    reads = [
        _text("1ABC123", 950),
        _text("1A8C123", 600),  # B read as 8 once
        _text("1ABC128", 700),  # 3 read as 8 once
        _text("ABC123", 500),  # truncated as it left the view
        _text("1ABC123", 900),
    ]
    result = vote(reads)
    assert result is not None
    assert result.text == "1ABC123"
    assert result.support == 5
    assert result.country == "B"
    assert all(0 < c <= 1000 for c in result.char_conf)
    assert result.char_conf[2] < result.char_conf[0]  # the disputed character is less sure


def test_an_outlier_read_of_something_else_is_outvoted() -> None:
    reads = [_text("1ABC123"), _text("STOP", 990), _text("1ABC123"), _text("1ABC12")]
    result = vote(reads)
    assert result is not None
    assert result.text == "1ABC123"
    assert result.support == 3


def test_pieces_of_a_plate_leaving_the_view_count_for_the_whole_plate() -> None:
    reads = (
        [_text("5067PER", 950)] * 9
        + [_text("5O67", 990)] * 13
        + [_text("5Q67", 900)] * 4
        + [_text("5Q63", 900)] * 4
    )
    result = vote(reads, min_support=2)
    assert result is not None
    assert result.text == "5067PER"
    assert result.support == 9 + 13 + 4  # 5Q63 is two edits from any piece of it


def test_a_two_line_plate_read_whole_a_quarter_as_often_as_its_first_line_is_whole() -> None:
    # 300 s synthetic video, seed 7: the first line alone 23 times, the whole plate 6.
    reads = [_text("5O67", 990)] * 12 + [_text("5Q67", 950)] * 11 + [_text("5067PER", 900)] * 6
    result = vote(reads, min_support=2)
    assert result is not None
    assert result.text == "5067PER"


def test_a_lone_long_read_does_not_collect_the_reads_of_the_plate_inside_it() -> None:
    reads = [_text("1ABC123")] * 10 + [_text("GH1ABC123QWE", 990)] * 2
    result = vote(reads, min_support=2)
    assert result is not None
    assert result.text == "1ABC123"


def test_piece_distance() -> None:
    assert piece_distance("5O67", "5067PER") == 1
    assert piece_distance("PER", "5067PER") == 0
    assert piece_distance("XYZ", "5067PER") == 3


def test_nothing_to_vote_on() -> None:
    assert vote([]) is None
    assert vote([PlateText("", ())]) is None
    assert vote([_text("1ABC123")], min_support=2) is None


def test_a_tie_between_clusters_goes_to_the_more_confident() -> None:
    result = vote([_text("1ABC123", 600), _text("XYZ98", 950)])
    assert result is not None
    assert result.text == "XYZ98"


@given(
    st.text(alphabet="ABCDEFGHJKLMNPRSTVWXYZ0123456789", min_size=1, max_size=9), st.integers(1, 8)
)
def test_identical_reads_vote_to_themselves(text: str, copies: int) -> None:
    result = vote([_text(text)] * copies)
    assert result is not None
    assert result.text == text
    assert result.support == copies
    assert similarity(text, text) == 1.0


def _box(x: float, y: float, w: float) -> PlateBox:
    h = w / 4.7
    return PlateBox(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.9)


def _crop() -> np.ndarray:
    return np.full((24, 110, 3), 200, np.uint8)


def test_two_vehicles_in_two_lanes_give_two_reads() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=2, timeout_s=0.5, min_support=2)
    reads: list[PlateRead | UnreadPass] = []
    for i in range(12):
        t = i * 0.04
        # Lane 1 (left): approaching, plate grows and moves down; lane 2: receding.
        sightings = [
            Sighting(
                _box(200 + i * 2, 200 + i * 25, 80 + i * 8),
                _text("1ABC123" if i % 4 else "1A8C123"),
                _crop(),
            ),
            Sighting(_box(900 - i, 600 - i * 20, 160 - i * 6), _text("2XYZ789"), _crop()),
        ]
        reads += tracker.update(t, 1_800_000_000_000 + int(t * 1000), sightings)
    assert reads == []  # nobody has left yet
    assert tracker.open_tracks == 2
    reads += tracker.update(1.0, 1_800_000_001_000, [])
    by_text = {r.text: r for r in _plates(reads)}
    assert set(by_text) == {"1ABC123", "2XYZ789"}
    assert (by_text["1ABC123"].lane, by_text["1ABC123"].direction) == (1, "approaching")
    assert (by_text["2XYZ789"].lane, by_text["2XYZ789"].direction) == (2, "receding")
    assert by_text["1ABC123"].frames == 12
    assert by_text["1ABC123"].crop_jpeg.startswith(b"\xff\xd8")
    assert by_text["1ABC123"].wall_ms == 1_800_000_000_440


def test_a_one_frame_blip_is_not_a_vehicle_and_zones_decide_the_lane() -> None:
    zones = (LaneZone(7, ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))),)
    tracker = Tracker(frame_size=(1000, 500), lanes=2, zones=zones, timeout_s=0.3, min_support=2)
    assert tracker.update(0.0, 0, [Sighting(_box(100, 100, 100), _text("9ZZZ999"))]) == []
    for i in range(4):
        tracker.update(
            0.5 + i * 0.05, 0, [Sighting(_box(700, 100 + i * 10, 100), _text("1ABC123"))]
        )
    reads = _plates(tracker.flush())
    assert [r.text for r in reads] == ["1ABC123"]
    assert reads[0].lane == 7
    assert reads[0].crop_jpeg == b""  # no crop was given


def test_unread_boxes_keep_a_track_open_but_do_not_date_its_read() -> None:
    # The plate leaves at 0.2 s; a grille of the vehicle behind (a box, no read) lands
    # near its last position and is tracked on until 0.6 s.
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.3, min_support=2)
    for i in range(6):
        t = i * 0.04
        tracker.update(
            t, 1_000 + int(t * 1000), [Sighting(_box(500, 300 + i * 10, 120), _text("1ABC123"))]
        )
    for i in range(10):
        t = 0.24 + i * 0.04
        tracker.update(t, 1_000 + int(t * 1000), [Sighting(_box(500, 360 + i * 5, 120), None)])
    assert tracker.open_tracks == 1
    reads = _plates(tracker.update(1.0, 2_000, []))
    assert [(r.text, r.wall_ms, r.frames) for r in reads] == [("1ABC123", 1_200, 6)]


def test_the_vehicle_behind_arriving_where_the_first_left_is_a_second_pass() -> None:
    # One lane: plate A runs down to y=420 and leaves; plate B is read 0.1 s later
    # right where A's track predicts A, and moves on down the same path.
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.5, min_support=2)
    for i in range(6):
        t = i * 0.04
        sure = _text("1ABC123", 990)
        tracker.update(t, int(t * 1000), [Sighting(_box(500, 300 + i * 20, 120), sure)])
    for i in range(6):
        t = 0.3 + i * 0.04
        box = _box(500, 430 + i * 20, 120)
        text = _text("2XYZ789" if i != 3 else "2XYZ78", 990)  # a piece of B goes to B
        tracker.update(t, int(t * 1000), [Sighting(box, text)])
    reads = _plates(tracker.update(2.0, 2_000, []))
    assert [(r.text, r.frames) for r in reads] == [("1ABC123", 6), ("2XYZ789", 6)]


def test_a_doubtful_read_of_another_plate_does_not_split_a_track() -> None:
    # Small plates misread into another valid text: without a sure read, one pass.
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.5, min_support=2)
    for i, (text, conf) in enumerate(
        [("1ABC123", 990)] * 3 + [("7XQZ552", 700)] + [("1ABC123", 990)] * 3
    ):
        t = i * 0.04
        tracker.update(
            t, int(t * 1000), [Sighting(_box(500, 300 + i * 20, 120), _text(text, conf))]
        )
    reads = _plates(tracker.update(2.0, 2_000, []))
    assert [(r.text, r.frames) for r in reads] == [("1ABC123", 7)]


def test_a_plate_read_as_junk_first_keeps_its_track_when_it_reads_well() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.5, min_support=2)
    for i, text in enumerate(["LA1", "IA7", "LA1", "1ABC123", "1ABC123", "1ABC123"]):
        t = i * 0.04
        read = PlateText(text, tuple([990] * len(text)), "B" if len(text) == 7 else None)
        tracker.update(t, int(t * 1000), [Sighting(_box(500, 300 + i * 20, 120), read)])
    reads = _plates(tracker.update(2.0, 2_000, []))
    assert [(r.text, r.frames) for r in reads] == [("1ABC123", 6)]


def test_a_garbled_read_does_not_split_the_track_it_belongs_to() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.5, min_support=2)
    texts = ["5067PER"] * 4 + ["5Q63"] + ["5O67"] * 5  # no syntax accepts 5Q63
    for i, text in enumerate(texts):
        t = i * 0.04
        read = PlateText(text, tuple([900] * len(text)), None)
        tracker.update(t, int(t * 1000), [Sighting(_box(500, 300 + i * 20, 120), read)])
    reads = _plates(tracker.update(2.0, 2_000, []))
    assert [(r.text, r.frames) for r in reads] == [("5067PER", 10)]


def _two_tracks(first: str, second: str, *, first_frames: int = 6) -> list[tuple[str, int]]:
    """Two plates boxed apart in one lane at the same time; the first track ends first."""
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.3, min_support=2)
    reads: list[PlateRead | UnreadPass] = []
    for i in range(14):
        t = i * 0.04
        sightings = [Sighting(_box(900, 100 + i * 20, 120), _text(second))]
        if i < first_frames:
            sightings.append(Sighting(_box(300, 100 + i * 20, 60), _text(first)))
        reads += tracker.update(t, int(t * 1000), sightings)
    reads += tracker.update(2.0, 2_000, [])
    return [(r.text, r.frames) for r in _plates(reads)]


def test_a_fragment_track_of_the_same_plate_joins_the_open_track() -> None:
    # One line of a two-line plate boxed on its own for a while: one pass, one read.
    assert _two_tracks("5O67", "5067PER") == [("5067PER", 20)]
    assert _two_tracks("5067PEB", "5067PER") == [("5067PER", 20)]


def test_a_shutdown_closes_fragments_of_one_pass_as_one_read() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.3, min_support=2)
    for i in range(6):
        t = i * 0.04
        tracker.update(
            t,
            int(t * 1000),
            [
                Sighting(_box(900, 100 + i * 20, 120), _text("5067PER")),
                Sighting(_box(300, 100 + i * 20, 60), _text("PER")),
            ],
        )
    assert [(r.text, r.frames) for r in _plates(tracker.flush())] == [("5067PER", 12)]


def test_two_plates_in_view_at_once_stay_two_passes() -> None:
    assert _two_tracks("1ABC123", "2XYZ789") == [("1ABC123", 6), ("2XYZ789", 14)]


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 1 / 3) < 1e-9


def test_a_plate_that_leaves_the_frame_is_read_before_the_timeout() -> None:
    # Approaching: the plate runs down and out of the bottom of a 720 px frame.
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=2.0, min_support=2)
    reads: list[PlateRead | UnreadPass] = []
    for i in range(10):
        t = i * 0.04
        sighting = Sighting(_box(500, 400 + i * 30, 160), _text("1ABC123"), _crop())
        reads += tracker.update(t, 1_800_000_000_000 + int(t * 1000), [sighting])
    last = 0.36
    assert tracker.update(last + 0.2, 1_800_000_000_560, []) == []  # within the grace
    reads += tracker.update(last + 0.35, 1_800_000_000_710, [])
    assert [r.text for r in _plates(reads)] == ["1ABC123"]


def test_a_plate_lost_in_the_middle_of_the_frame_waits_for_the_timeout() -> None:
    # The detector loses a plate that was standing still mid-frame (a queue, an occlusion).
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=2.0, min_support=2)
    for i in range(10):
        t = i * 0.04
        sighting = Sighting(_box(500 + i, 300, 160), _text("1ABC123"), _crop())
        assert tracker.update(t, 1_800_000_000_000 + int(t * 1000), [sighting]) == []
    assert tracker.update(1.5, 1_800_000_001_500, []) == []
    assert [r.text for r in _plates(tracker.update(2.4, 1_800_000_002_400, []))] == ["1ABC123"]
