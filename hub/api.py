"""The HTTPS delivery API (Starlette): grants, counts, the camera inventory, a page per recipient.

The recipient is the CN of its verified client certificate. Every request,
served or refused, is one audit line: who, which grant, which range, how
many rows, and the outcome.

- ``GET /v1/grants`` — the recipient's grants;
- ``GET /v1/grants/{id}/counts?from=&to=&granularity=&per_camera=&format=json|csv|datex``;
- ``GET /v1/cameras?format=json|geojson`` — the inventory of the cameras its
  valid grants cover;
- ``GET /`` — its page (:mod:`hub.page`).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hub import grants as grantlib
from hub.delivery import DeliveryError, Query, Row, check_request, label_names, rows
from hub.formats import csv_lines, datex_chunks, iso, json_body
from hub.inventory import camera_rows, geojson
from hub.page import render_page

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from sqlalchemy.engine import Connection, Engine
    from starlette.requests import Request

    from hub.config import HubConfig

__all__ = ["create_app", "handshake_auditor", "parse_time"]


def parse_time(value: str | None) -> int | None:
    """Epoch seconds, or ISO 8601 with a zone (``2027-01-01T00:00:00Z``); None if absent/bad."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int(when.timestamp()) if when.tzinfo is not None else None


def _recipient(
    request: Request, cas: Sequence[x509.Certificate], now_s: int
) -> tuple[str | None, str | None]:
    """The CN of the client certificate, and why it is not accepted now (None: it is).

    The handshake verified the chain but not the dates (:mod:`hub.server`):
    here the certificate and the CA of ``api.client_ca`` that issued it must be
    valid at ``now_s``.
    """
    der = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
    if not der:
        return None, "a client certificate is required"
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else None
    issuers = [ca for ca in cas if ca.subject == cert.issuer]
    for which, c in [("client certificate", cert)] + [("its CA", ca) for ca in issuers]:
        if now_s < c.not_valid_before_utc.timestamp():
            return cn, f"{which} not valid before {iso(int(c.not_valid_before_utc.timestamp()))}"
        if now_s > c.not_valid_after_utc.timestamp():
            return cn, f"{which} expired {iso(int(c.not_valid_after_utc.timestamp()))}"
    if cn is None:
        return None, "the client certificate has no CN"
    return cn, None


def handshake_auditor(engine: Engine) -> Callable[[str, str], None]:
    """What :func:`hub.server.make_server` calls per refused TLS handshake: one audit line."""

    def refused(peer: str, reason: str) -> None:
        with engine.begin() as conn:
            grantlib.audit(
                conn,
                actor="-",
                action="tls-handshake",
                outcome=f"refused: {reason}",
                detail={"peer": peer},
            )

    return refused


def create_app(  # noqa: C901, PLR0915 - the routes share the closures
    engine: Engine, cfg: HubConfig, *, clock: Callable[[], float] = time.time
) -> Starlette:
    """The ASGI app over ``engine``."""
    k, base_s = cfg.disclosure.k, cfg.disclosure.base_s
    cas = x509.load_pem_x509_certificates(cfg.api.client_ca.read_bytes()) if cfg.api else []

    def audit(who: str | None, action: str, outcome: str, **kw: object) -> None:
        with engine.begin() as conn:
            grantlib.audit(conn, actor=who or "-", action=action, outcome=outcome, **kw)  # type: ignore[arg-type]

    def refuse(
        who: str | None, action: str, status: int, reason: str, **kw: object
    ) -> JSONResponse:
        audit(who, action, f"{status}: {reason}", **kw)
        return JSONResponse({"error": reason}, status_code=status)

    def identify(request: Request, action: str, **kw: object) -> str | JSONResponse:
        """The recipient's CN, or the 401 (audited) that refuses its certificate."""
        who, problem = _recipient(request, cas, int(clock()))
        if problem is not None or who is None:
            return refuse(who, action, 401, problem or "no recipient", **kw)
        return who

    def list_grants(request: Request) -> Response:
        who = identify(request, "list-grants")
        if isinstance(who, JSONResponse):
            return who
        with engine.connect() as conn:
            mine = grantlib.list_grants(conn, who)
        audit(who, "list-grants", "200", rows=len(mine))
        return JSONResponse({"recipient": who, "grants": [g.as_json() for g in mine]})

    def counts(request: Request) -> Response:
        params = request.query_params
        detail: dict[str, object] = dict(params.items())
        raw_id = request.path_params["grant_id"]
        gid = int(raw_id) if str(raw_id).isdigit() else None
        who = identify(request, "counts", grant_id=gid, detail=detail)
        if isinstance(who, JSONResponse):
            return who
        granularity = params.get("granularity")
        try:
            with engine.connect() as conn:
                grant = grantlib.get(conn, gid) if gid is not None else None
            query = check_request(
                grant,
                who,
                now_s=int(clock()),
                start=parse_time(params.get("from")),
                end=parse_time(params.get("to")),
                granularity_s=int(granularity) if granularity and granularity.isdigit() else None,
                per_camera=params.get("per_camera", "0") in {"1", "true", "yes"},
                fmt=params.get("format", "json"),
            )
        except DeliveryError as exc:
            return refuse(who, "counts", exc.status, exc.reason, grant_id=gid, detail=detail)
        assert grant is not None  # noqa: S101 - check_request refused None
        conn = engine.connect()
        cameras = grantlib.grant_cameras(conn, grant)
        stream = rows(
            conn, cameras=cameras, query=query, dimensions=grant.dimensions, k=k, base_s=base_s
        )
        detail.update(
            {
                "from": query.start,
                "to": query.end,
                "granularity": query.granularity_s,
                "cameras": len(cameras),
            }
        )
        retain_until = iso(int(clock()) + grant.retention_days * 86400)
        headers = {
            "X-Retain-Until": retain_until,
            "X-Onward-Sharing": "allowed" if grant.onward_sharing else "forbidden",
        }
        if query.fmt == "json":
            meta: dict[str, object] = {
                "grant": grant.id,
                "recipient": who,
                "purpose": grant.purpose,
                "k": k,
                "from": query.start,
                "to": query.end,
                "granularity_s": query.granularity_s,
                "per_camera": query.per_camera,
                "dimensions": list(grant.dimensions),
                "retain_until": retain_until,
                "onward_sharing": grant.onward_sharing,
            }
            try:
                body, n = json_body(meta, stream)
            finally:
                conn.close()
            audit(who, "counts", "200", grant_id=grant.id, rows=n, detail=detail)
            return Response(body, media_type="application/json", headers=headers)
        counted = _Counter()
        if query.fmt == "csv":
            labels = _label_columns(conn, cameras, query, grant.dimensions)
            chunks = csv_lines(counted.wrap(stream), grant.dimensions, labels)
            media = "text/csv; charset=utf-8"
        else:
            chunks = datex_chunks(
                counted.wrap(stream),
                grant,
                publisher=cfg.publisher,
                country=cfg.country,
                now_s=int(clock()),
            )
            media = "application/xml"

        def body_then_audit() -> Iterator[bytes]:
            try:
                for chunk in chunks:
                    yield chunk.encode()
            finally:
                conn.close()
                audit(who, "counts", "200", grant_id=grant.id, rows=counted.n, detail=detail)

        return StreamingResponse(body_then_audit(), media_type=media, headers=headers)

    def cameras(request: Request) -> Response:
        who = identify(request, "cameras")
        if isinstance(who, JSONResponse):
            return who
        fmt = request.query_params.get("format", "json")
        if fmt not in {"json", "geojson"}:
            return refuse(who, "cameras", 406, f"unknown format {fmt!r}: use json or geojson")
        with engine.connect() as conn:
            visible = _visible(conn, who, int(clock()))
            found = camera_rows(conn, visible)
        audit(who, "cameras", "200", rows=len(found))
        if fmt == "geojson":
            return Response(json.dumps(geojson(found)), media_type="application/geo+json")
        return JSONResponse({"cameras": found})

    def page(request: Request) -> Response:
        who = identify(request, "page")
        if isinstance(who, JSONResponse):
            return who
        with engine.connect() as conn:
            html, n = render_page(conn, who, now_s=int(clock()), k=k, base_s=base_s)
        audit(who, "page", "200", rows=n)
        return HTMLResponse(html)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/v1/grants", list_grants),
            Route("/v1/grants/{grant_id}/counts", counts),
            Route("/v1/cameras", cameras),
        ]
    )


def _visible(conn: object, who: str, now_s: int) -> list[str]:
    """Cameras covered by the recipient's approved, currently valid grants."""
    out: set[str] = set()
    for grant in grantlib.list_grants(conn, who):  # type: ignore[arg-type]
        if grant.state == "approved" and grant.valid_from <= now_s < grant.valid_until:
            out.update(grantlib.grant_cameras(conn, grant))  # type: ignore[arg-type]
    return sorted(out)


_VOCAB = {
    "lane": [*(str(i) for i in range(1, 9)), "unknown", "other"],
    "direction": ["approaching", "receding", "unknown", "other"],
    "vehicle_class": ["bus", "car", "motorcycle", "truck", "van", "unknown", "other"],
}


def _label_columns(
    conn: Connection, cameras: list[str], query: Query, dimensions: tuple[str, ...]
) -> list[str]:
    """CSV columns ``dim:label``: the closed vocabularies, and country groups as configured.

    Country groups are each camera's configuration, so their columns are the
    labels present in the range.
    """
    cols: list[str] = []
    for dim in dimensions:
        names = _VOCAB.get(dim) or label_names(conn, cameras, query, dim)
        cols += [f"{dim}:{label}" for label in names]
    return cols


class _Counter:
    """Counts rows as they stream by (for the audit line written at the end)."""

    def __init__(self) -> None:
        self.n = 0

    def wrap(self, it: Iterator[Row]) -> Iterator[Row]:
        for item in it:
            self.n += 1
            yield item
