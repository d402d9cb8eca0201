"""The agent's configuration: one frozen pydantic tree.

Every field has bounds and a description; every validator is pure (no file
access, no environment, no clock). Reading TOML, applying ``ANPR_…``
environment overrides and resolving credential paths happen in
:mod:`agent.configload`; checks that need the file system (a key exists, is
private, a certificate parses) live in :mod:`agent.configfiles`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.recognition.syntax import known as known_plate_countries

__all__ = [
    "COUNT_DIMENSIONS",
    "EVENTS_SOURCE",
    "AgentConfig",
    "BrokerUrl",
    "CameraConfig",
    "CountsConfig",
    "IntakeConfig",
    "JournalConfig",
    "KeysConfig",
    "LaneZone",
    "RecognitionConfig",
    "ServiceConfig",
    "UplinkConfig",
    "broker_endpoint",
]

# The only dimensions a civil count may be broken down by: none identifies a vehicle.
COUNT_DIMENSIONS = ("lane", "direction", "country_group")
# Refused by name until something measures it: every pass would say "unknown".
_UNMEASURED = ("vehicle_class",)

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_TOPIC_PREFIX_PATTERN = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
_COUNTRY = r"^[A-Z]{1,3}$"
EVENTS_SOURCE = "events:"  # camera.source of a camera that reads plates and posts events


# C0 controls and DEL, tab and newline aside: a NUL in a site name is cut short by C
# APIs (sqlite, sd_notify STATUS=, journald) and a control byte forges log lines.
_CONTROL = frozenset(chr(c) for c in (*range(32), 127)) - {"\t", "\n"}


def _no_control(value: object) -> None:
    if isinstance(value, str | Path):
        bad = _CONTROL.intersection(str(value))
        if bad:
            codes = ", ".join(f"U+{ord(c):04X}" for c in sorted(bad))
            msg = f"must not contain control characters ({codes})"
            raise ValueError(msg)
    elif isinstance(value, tuple):
        for item in value:
            _no_control(item)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: object) -> object:
        _no_control(value)
        return value


def _check_broker_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in {"mqtt", "tcp", "ws"}:
        msg = (
            "plaintext MQTT is not supported: use mqtts://host:port (TLS with client certificates)"
        )
        raise ValueError(msg)
    if parts.scheme != "mqtts":
        msg = "must be mqtts://host:port"
        raise ValueError(msg)
    if not parts.hostname:
        msg = "must name a host: mqtts://host:port"
        raise ValueError(msg)
    try:
        port = parts.port
    except ValueError as exc:
        msg = "port must be a number from 1 to 65535"
        raise ValueError(msg) from exc
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        msg = "must be mqtts://host:port with no path, query or user"
        raise ValueError(msg)
    if port == 0:
        msg = "port must be a number from 1 to 65535"
        raise ValueError(msg)
    return url


BrokerUrl = Annotated[str, AfterValidator(_check_broker_url)]


def broker_endpoint(url: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a validated ``mqtts://`` URL; the port defaults to 8883."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or 8883


def _check_loopback(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        msg = "must be host:port, e.g. 127.0.0.1:9108"
        raise ValueError(msg)
    host = host.strip("[]")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            msg = "metrics must listen on a loopback address (127.0.0.0/8, ::1 or localhost)"
            raise ValueError(msg)
    return address


def _check_plate_countries(codes: tuple[str, ...]) -> tuple[str, ...]:
    known = known_plate_countries()
    bad = [c for c in codes if c not in known]
    if bad:
        msg = (
            f"no plate syntax for {', '.join(map(repr, bad))}; known: {', '.join(known)} "
            "(docs/PLATES-EUROPE.md)"
        )
        raise ValueError(msg)
    return codes


def _check_dimensions(dimensions: tuple[str, ...]) -> tuple[str, ...]:
    unmeasured = [d for d in dimensions if d in _UNMEASURED]
    if unmeasured:
        msg = (
            f"dimension(s) {', '.join(map(repr, unmeasured))} not measured by this agent "
            f"(no vehicle classifier): remove it; allowed: {', '.join(COUNT_DIMENSIONS)}"
        )
        raise ValueError(msg)
    bad = [d for d in dimensions if d not in COUNT_DIMENSIONS]
    if bad:
        msg = (
            f"dimension(s) {', '.join(map(repr, bad))} not allowed (they could identify "
            f"a vehicle); allowed: {', '.join(COUNT_DIMENSIONS)}"
        )
        raise ValueError(msg)
    if len(set(dimensions)) != len(dimensions):
        msg = "dimensions must not repeat"
        raise ValueError(msg)
    return dimensions


_Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class LaneZone(_Section):
    """One lane of the image, as a polygon in normalised coordinates (0..1, x right, y down)."""

    lane: int = Field(ge=1, le=8, description="Lane number (1-based) this polygon is.")
    polygon: tuple[tuple[_Unit, _Unit], ...] = Field(
        min_length=3, max_length=32, description="Corners [x, y] of the lane, each 0..1."
    )


class CameraConfig(_Section):
    """Who this camera is, where it stands, who answers for it, and where its frames come from."""

    id: str = Field(
        pattern=_ID_PATTERN,
        description="Camera id: MQTT client id, topic segment and CN of its client certificates.",
    )
    site: str = Field(min_length=1, max_length=200, description="Site name, e.g. a crossing.")
    location: str = Field(
        min_length=1, max_length=200, description="Where it stands: address or 'lat,lon'."
    )
    owner: str = Field(min_length=1, max_length=200, description="Legal owner of the camera.")
    operator: str = Field(min_length=1, max_length=200, description="Who runs it day to day.")
    vendor: str = Field(default="unknown", max_length=200, description="Camera vendor.")
    model: str = Field(default="unknown", max_length=200, description="Camera model.")
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="Frame source: rtsp://, http(s)://, a video file, a directory of images, "
        "sim: for the in-process simulator, or events: for a camera that reads plates "
        "itself and posts read events ([intake]).",
    )
    lanes: int = Field(default=1, ge=1, le=8, description="Number of lanes in view.")
    loop: bool = Field(
        default=False,
        description="Replay a finite source (a video file, a directory of images) from the "
        "start each time it ends. Off: it is read once, then the agent delivers what it "
        "journaled and stops (exit 0).",
    )
    lost_alarm_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="Seconds without a frame from the camera before the 'camera lost' alarm.",
    )
    lost_restart_s: float = Field(
        default=600.0,
        ge=0.0,
        le=604_800.0,
        description="Seconds without a frame before the watchdog pings stop, so systemd "
        "restarts the agent (0: never; the alarm stays).",
    )
    lane_zones: tuple[LaneZone, ...] = Field(
        default=(),
        max_length=8,
        description="Lane polygons; without them, lanes are equal vertical strips of the image.",
    )

    purpose: str = Field(
        default="law enforcement (ANPR)",
        min_length=1,
        max_length=200,
        description="Declared purpose of the camera, published in its signed descriptor.",
    )
    legal_basis: str = Field(
        min_length=1,
        max_length=500,
        description="Legal basis of the camera, published in its signed descriptor.",
    )

    @model_validator(mode="after")
    def _zones_within_lanes(self) -> CameraConfig:
        beyond = sorted({z.lane for z in self.lane_zones if z.lane > self.lanes})
        if beyond:
            msg = f"lane_zones name lane(s) {beyond} but camera.lanes is {self.lanes}"
            raise ValueError(msg)
        return self


class RecognitionConfig(_Section):
    """The plate detector and reader models and their thresholds."""

    # The agent ships its models as package data (agent.recognition.shipped): a card
    # is named only to swap a model, so an installed agent needs no model path.
    detector_card: Path | None = Field(
        default=None,
        description=(
            "Card (JSON) of an ONNX plate detector to use instead of the shipped one; "
            "the model sits next to it. None: the shipped detector."
        ),
    )
    reader_card: Path | None = Field(
        default=None,
        description=(
            "Card (JSON) of an ONNX CTC plate reader to use instead of the shipped one; "
            "the model sits next to it. None: the shipped reader."
        ),
    )
    screen: bool = Field(
        default=True,
        description=(
            "Read every box first with a cheaper twin of the reader; only boxes it reads "
            "as a plate go to the reader. False: the reader reads every box."
        ),
    )
    screen_card: Path | None = Field(
        default=None,
        description=(
            "Card of the screen (see screen) to use instead of the shipped one, a "
            "smaller int8 reader: name one with the reader's alphabet when you swap the "
            "reader. None: the shipped screen."
        ),
    )
    detect_threshold: float = Field(
        # 0.2: the shipped detector's heatmap peaks are not probabilities. With reader
        # 0.2.0 on real-dev, 0.2 instead of 0.3 finds fr plates 83.9 -> 89.6 % and lifts
        # top-1 exact 61.6 -> 64.9 % (br unchanged) for 1.18 instead of 0.72 false boxes a
        # photo; the synthetic video scores the same at both (models/README).
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Minimum detector score for a plate box.",
    )
    read_threshold: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Minimum mean character confidence of a read."
    )
    min_plate_width: int = Field(
        default=60, ge=8, le=2000, description="Ignore plate boxes narrower than this (pixels)."
    )
    refine_corners: bool = Field(
        default=True,
        description=(
            "Also read each plate with its corners found again in a zoomed window, keeping "
            "the surer read: sharper crops of small plates, for one small detector pass "
            "and one more crop read per plate."
        ),
    )
    second_look: int = Field(
        default=0,
        ge=0,
        le=4096,
        description=(
            "Long side (px) at which a frame none of whose reads fits a configured syntax is "
            "searched again (the detector card's own size is 512), e.g. 768, and at 3/4 of the "
            "card's size, both at half the detector's bar; 0: never. A stream's empty frames "
            "would all pay for it; `anpr-agent read` uses 768 on photos."
        ),
    )
    fuse_crops: bool = Field(
        default=False,
        description=(
            "Where a plate's box and its refined box read differently, also cut it looser "
            "and tighter and take the text the four cuts together find most probable (two "
            "more crops read). Off: with reader 0.6.0 it mends as many real photos as it "
            "breaks (models/README); `anpr-agent read --fuse` turns it on for photos."
        ),
    )
    count_loops: bool = Field(
        default=True,
        description=(
            "Count vehicles with virtual loops too (motion across a band of each lane): a "
            "vehicle whose plate the tracker never follows (a motorcycle seen from the front, "
            "no front plate, a bike rack) is counted for the city, lane and time only. "
            "Streams only. Measured on one lane a camera; with two lanes in one view the "
            "loops overcount (docs/ARCHITECTURE.md). A vehicle only a loop saw is counted "
            "~2.5 s after it left (7 s while a lane learns): keep counts.grace_s above that."
        ),
    )
    vote_box_crop: bool = Field(
        default=False,
        description=(
            "Also read each plate from the upright rectangle around its box (10 % margin, no "
            "warp) and take the text the two crops together find most probable: a second "
            "view that does not depend on the corners (one more crop read per plate). "
            "`anpr-agent read` turns it on for photos (real-dev top-1, models/README)."
        ),
    )
    vote_screen: bool = Field(
        default=True,
        description=(
            "Weigh the screen's outputs of each crop with the reader's and take the text "
            "both models together find most probable: the shipped screen is a smaller "
            "model than the reader, and two models that err on different strokes read "
            "better together (models/README). The screen then also reads refined and box "
            "crops. Needs a screen with the reader's alphabet; without a screen it does "
            "nothing."
        ),
    )
    countries: Annotated[
        tuple[Annotated[str, Field(pattern=_COUNTRY)], ...],
        AfterValidator(_check_plate_countries),
    ] = Field(
        default=("B", "NL", "F", "D", "L"),
        min_length=1,
        description=(
            "Country syntaxes the post-OCR checker tries first, in order, as international "
            "codes: any of the European format table (docs/PLATES-EUROPE.md; GB is UK) or BR. "
            "Every other country's syntax still keeps a visitor's plate read as it is."
        ),
    )
    threads: int = Field(
        default=1, ge=1, le=64, description="onnxruntime intra-op threads per model."
    )
    pass_timeout_s: float = Field(
        default=2.0, gt=0.0, le=60.0, description="Close a vehicle pass after this long unseen."
    )
    roi: (
        tuple[
            tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]],
            ...,
        ]
        | None
    ) = Field(
        default=None,
        description="Region of interest: a polygon of at least 3 (x, y) points in normalised "
        "frame coordinates (0..1, x right, y down); plates whose centre lies outside are "
        "ignored. None reads the whole frame.",
    )

    overview: Literal["off", "vehicle", "frame"] = Field(
        default="off",
        description=(
            "Picture sealed with each read, from the frame of its best crop: 'vehicle' (the "
            "plate's box scaled up to a vehicle-sized region; there is no vehicle detector), "
            "'frame' (the whole frame) or 'off'. Sealed to the back office like the crop; "
            "never on the civil side, never in plaintext on disk."
        ),
    )
    overview_long_side: int = Field(
        default=640, ge=64, le=4096, description="Overview JPEG's long side at most (px)."
    )
    overview_quality: int = Field(
        default=80, ge=10, le=100, description="Overview JPEG quality (lowered to fit the cap)."
    )
    overview_max_bytes: int = Field(
        default=100_000,
        ge=4096,
        le=2_000_000,
        description=(
            "Hard cap on one overview JPEG: over it, quality then size go down until it fits. "
            "Each read's journal record grows by up to this much (docs/SIZING.md)."
        ),
    )

    @model_validator(mode="after")
    def _second_look_is_a_size(self) -> RecognitionConfig:
        if 0 < self.second_look < 64:
            raise ValueError("recognition.second_look is a long side of 64 px or more, or 0")
        return self

    @model_validator(mode="after")
    def _roi_is_a_polygon(self) -> RecognitionConfig:
        if self.roi is not None and len(self.roi) < 3:  # a polygon
            raise ValueError("recognition.roi needs at least 3 points to form a polygon")
        return self


class JournalConfig(_Section):
    """The signed, hash-chained local journal (SQLite): the edge box's memory."""

    path: Path = Field(
        default=Path("/var/lib/anpr-agent/journal.sqlite"), description="Journal database file."
    )
    synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        description="SQLite synchronous level; a read is reported committed only once durable.",
    )
    retention_days: float = Field(
        default=7.0, gt=0.0, le=3650.0, description="Purge confirmed records older than this."
    )
    max_age_days: float = Field(
        default=30.0, gt=0.0, le=3650.0, description="Purge any record older than this."
    )
    quota_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024**2,
        le=2**50,
        description="Disk quota of the journal in bytes.",
    )
    quota_policy: Literal["refuse-new", "drop-oldest-unconfirmed"] = Field(
        default="refuse-new",
        description="When the quota is reached: refuse new records and raise an alarm, "
        "or drop the oldest unconfirmed records and journal what was dropped.",
    )
    checkpoint_every: int = Field(
        default=100, ge=1, le=1_000_000, description="Signed checkpoint every N records."
    )
    checkpoint_seconds: float = Field(
        default=60.0, gt=0.0, le=86_400.0, description="...or every T seconds, whichever first."
    )

    @model_validator(mode="after")
    def _max_age_covers_retention(self) -> JournalConfig:
        if self.max_age_days < self.retention_days:
            msg = "max_age_days must be at least retention_days"
            raise ValueError(msg)
        return self


class KeysConfig(_Section):
    """Keys of the journal: the device's signing key and the back office's sealing key."""

    signing_key: Path = Field(
        description="Ed25519 private key (PEM, mode 0600) that signs every journal record."
    )
    sealing_public_key: Path = Field(
        description="Back office X25519 public key (PEM): plates are sealed to it with HPKE."
    )


class UplinkConfig(_Section):
    """One MQTT 5 connection over mutual TLS."""

    brokers: tuple[BrokerUrl, ...] = Field(
        min_length=1,
        max_length=16,
        description="Broker URLs (mqtts://host:port), tried in order with failover.",
    )
    ca: Path = Field(description="CA certificate (PEM) pinned for the broker.")
    cert: Path = Field(description="Client certificate (PEM); its CN is the camera id.")
    key: Path = Field(description="Client private key (PEM, mode 0600).")
    crl: Path | None = Field(
        default=None,
        description="Certificate revocation list (PEM) of the CA: a broker certificate it "
        "revokes is refused at connect. Read at every connection attempt (and checked on "
        "SIGHUP), so a renewed file takes effect without a restart. None: no revocation check.",
    )
    topic_prefix: str = Field(
        pattern=_TOPIC_PREFIX_PATTERN,
        max_length=200,
        description="Topic prefix; topics are {prefix}/{camera}/…",
    )
    qos: Literal[1] = Field(
        default=1, description="MQTT QoS: 1 (at least once, ack-driven) is the only supported."
    )
    inflight: int = Field(
        default=50, ge=1, le=1000, description="Maximum unacknowledged publishes in flight."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    session_expiry_s: int = Field(
        default=86_400, ge=0, le=4_294_967_295, description="MQTT 5 session expiry."
    )
    tls_min_version: Literal["1.2", "1.3"] = Field(
        default="1.2", description="Minimum TLS version; below 1.2 is never offered."
    )
    backoff_min_s: float = Field(
        default=0.5, gt=0.0, le=60.0, description="First reconnect delay (then doubles)."
    )
    backoff_max_s: float = Field(
        default=30.0, gt=0.0, le=3600.0, description="Longest reconnect delay (jittered)."
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> UplinkConfig:
        if self.backoff_max_s < self.backoff_min_s:
            msg = "backoff_max_s must be at least backoff_min_s"
            raise ValueError(msg)
        return self


class CountsConfig(_Section):
    """Anonymous counts for the civil side, with disclosure control."""

    window_s: int = Field(
        default=900, ge=60, le=3600, description="Count window, aligned to wall-clock."
    )
    grace_s: int = Field(
        default=30, ge=0, le=600, description="Wait this long after a window ends for late reads."
    )
    k: int = Field(
        default=5, ge=2, le=1000, description="No published cell may be (or derive to) 1..k-1."
    )
    dimensions: Annotated[tuple[str, ...], AfterValidator(_check_dimensions)] = Field(
        default=("lane", "direction", "country_group"),
        max_length=len(COUNT_DIMENSIONS),
        description=f"Breakdown of each window; allowed: {', '.join(COUNT_DIMENSIONS)}.",
    )
    country_groups: tuple[Annotated[str, Field(pattern=_COUNTRY)], ...] = Field(
        default=("B", "NL", "F", "D", "L"),
        max_length=20,
        description="Countries counted by name; all others count as 'other'.",
    )
    purpose: str = Field(
        default="mobility",
        min_length=1,
        max_length=200,
        description="Declared purpose carried in every civil message.",
    )
    legal_basis: str = Field(
        min_length=1, max_length=500, description="Legal basis carried in every civil message."
    )


class ServiceConfig(_Section):
    """How the daemon runs: logs, metrics, heartbeats, shutdown."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level (no level ever shows a plate)."
    )
    log_format: Literal["json", "kv"] = Field(
        default="json", description="JSON lines (for journald) or key=value."
    )
    metrics_address: Annotated[str, AfterValidator(_check_loopback)] = Field(
        default="127.0.0.1:9108", description="Prometheus metrics, loopback only."
    )
    heartbeat_s: int = Field(default=60, ge=5, le=3600, description="Status heartbeat period.")
    shutdown_deadline_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Wait at most this long for PUBACKs on stop."
    )
    cert_warn_days: int = Field(
        default=30, ge=1, le=365, description="Warn this many days before a client cert expires."
    )
    clock_step_ms: int = Field(
        default=1000,
        ge=10,
        le=3_600_000,
        description=(
            "A wall-clock step larger than this (against the monotonic clock) raises an alarm "
            "and is written into the next read's record (clock.step_ms)."
        ),
    )


def _check_listen(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        msg = "must be host:port, e.g. 0.0.0.0:8443 or 127.0.0.1:8480"
        raise ValueError(msg)
    return address


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class IntakeConfig(_Section):
    """Read events from a camera that reads plates itself (camera.source = 'events:')."""

    listen: Annotated[str, AfterValidator(_check_listen)] = Field(
        default="127.0.0.1:8480",
        description="Address the camera posts its events to (host:port). Off loopback it "
        "must be HTTPS (tls_cert, tls_key).",
    )
    tls_cert: Path | None = Field(
        default=None, description="Server certificate chain (PEM) the camera checks."
    )
    tls_key: Path | None = Field(
        default=None, description="Server private key (PEM, mode 0600), e.g. credential:intake.key."
    )
    client_ca: Path | None = Field(
        default=None,
        description="CA (PEM) of the camera's client certificate: a camera without one is "
        "refused in the TLS handshake.",
    )
    token: Path | None = Field(
        default=None,
        description="File (mode 0600) holding the bearer token the camera sends "
        "(Authorization: Bearer ...), e.g. credential:intake.token; 16 characters or more.",
    )
    preset: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
        description="Shipped event format (anpr-agent check-intake --list shows them).",
    )
    mapping: Path | None = Field(
        default=None, description="A mapping file (TOML) for a format no preset covers."
    )
    max_event_bytes: int = Field(
        default=2 * 1024**2,
        ge=1024,
        le=64 * 1024**2,
        description="Largest event body taken (413 beyond it).",
    )
    max_events_per_s: float = Field(
        default=50.0, gt=0.0, le=100_000.0, description="Sustained events a second (429 beyond)."
    )
    burst: int = Field(
        default=200, ge=1, le=100_000, description="Events taken at once above the rate."
    )
    max_connections: int = Field(
        default=16, ge=1, le=1024, description="Camera connections served at once."
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Handshake and read timeout per connection."
    )
    dedupe_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="The same plate passing within this many seconds is one read (resends "
        "with the same event id are one read whatever the time); 0: by event id only.",
    )
    crop_max_side: int = Field(
        default=480, ge=32, le=4096, description="Plate image re-encoded to this long side at most."
    )
    crop_max_bytes: int = Field(
        default=65_536, ge=4096, le=2_000_000, description="Plate image JPEG size cap (bytes)."
    )
    max_skew_s: float = Field(
        default=300.0, ge=0.0, le=86_400.0, description="Refuse pass times further ahead."
    )
    max_age_s: float = Field(
        default=86_400.0,
        gt=0.0,
        le=30 * 86_400.0,
        description="Refuse pass times older than this (a camera's buffer replayed late).",
    )

    @model_validator(mode="after")
    def _safe_and_complete(self) -> IntakeConfig:
        if (self.preset is None) == (self.mapping is None):
            raise ValueError("intake: name exactly one of preset or mapping")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("intake: tls_cert and tls_key go together")
        if self.tls_cert is None and not _is_loopback(self.listen):
            raise ValueError(
                f"intake.listen {self.listen} is off loopback: plain HTTP is refused there, "
                "set tls_cert and tls_key"
            )
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("intake.client_ca needs HTTPS (tls_cert, tls_key)")
        if self.client_ca is None and self.token is None:
            raise ValueError("intake: set client_ca (client certificates) and/or token")
        return self


class AgentConfig(_Section):
    """The whole agent configuration."""

    camera: CameraConfig
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    keys: KeysConfig
    police: UplinkConfig
    civil: UplinkConfig
    counts: CountsConfig
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    intake: IntakeConfig | None = Field(
        default=None, description="Event intake; only with camera.source = 'events:'."
    )

    @model_validator(mode="after")
    def _events_need_intake(self) -> AgentConfig:
        events = self.camera.source == EVENTS_SOURCE
        if events and self.intake is None:
            raise ValueError("camera.source 'events:' needs an [intake] section")
        if self.intake is not None and not events:
            raise ValueError("an [intake] section needs camera.source = 'events:'")
        return self

    @model_validator(mode="after")
    def _civil_is_separate(self) -> AgentConfig:
        # The double flux only protects anyone if the two streams cannot meet on one connection.
        shared = {broker_endpoint(u) for u in self.police.brokers} & {
            broker_endpoint(u) for u in self.civil.brokers
        }
        if shared:
            host, port = min(shared)
            msg = (
                f"civil.brokers shares {host}:{port} with police.brokers: "
                "the civil flux needs its own broker"
            )
            raise ValueError(msg)
        if self.civil.ca == self.police.ca:
            msg = "civil.ca is police.ca: the civil flux needs its own CA"
            raise ValueError(msg)
        if self.civil.cert == self.police.cert or self.civil.key == self.police.key:
            msg = "civil.cert/key are the police identity: the civil flux needs its own identity"
            raise ValueError(msg)
        if self.civil.topic_prefix == self.police.topic_prefix:
            msg = "civil.topic_prefix equals police.topic_prefix: keep the two fluxes apart"
            raise ValueError(msg)
        return self
