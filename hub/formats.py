"""Output formats of a delivery: JSON, CSV (streamed) and DATEX II v3.

DATEX II v3 (CEN/TS 16157, the European traffic-data exchange standard): a
``MeasuredDataPublication`` payload (namespace
``http://datex2.eu/schema/3/roadTrafficData``, base type
``PayloadPublication`` of ``http://datex2.eu/schema/3/common``), as published
by the DATEX II organisation (https://docs.datex2.eu, schema
``DATEXII_3_RoadTrafficData.xsd`` of the v3 release). Mapping, per row:

* ``siteMeasurements/measurementSiteReference@id`` = the camera id (rows
  summed over a grant's cameras: ``grant-{id}``), ``targetClass`` =
  ``roa:MeasurementSite``;
* ``measurementTimeDefault``: ``timeValue`` = the end of the time step,
  ``period`` = the step in seconds;
* ``physicalQuantity`` index 1: ``SinglePhysicalQuantity`` whose
  ``basicData`` is a ``TrafficFlow`` with ``vehicleFlow/vehicleFlowRate`` =
  vehicles per hour over the step (a row's total x 3600 / step, rounded);
* ``headerInformation``: ``confidentiality`` = ``noRestriction`` when the
  grant allows onward sharing, else ``restrictedToAuthorities``;
  ``informationStatus`` = ``real``;
* a row whose total is suppressed carries no ``physicalQuantity``.

Label breakdowns (lanes, classes) are in JSON and CSV only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from hub.delivery import Row
    from hub.grants import GrantView

__all__ = ["DATEX_NS", "csv_lines", "datex_chunks", "json_body", "row_json"]

DATEX_NS = {
    "d2": "http://datex2.eu/schema/3/d2Payload",
    "com": "http://datex2.eu/schema/3/common",
    "roa": "http://datex2.eu/schema/3/roadTrafficData",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def iso(epoch_s: int) -> str:
    """``2027-01-01T00:00:00Z``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_json(row: Row) -> dict[str, object]:
    """One row as JSON: ``null`` marks a suppressed figure."""
    return {
        "start": row.start,
        "end": row.end,
        "camera": row.camera,
        "total": row.total,
        "late": row.late,
        "withheld_windows": row.withheld_windows,
        "windows": row.windows,
        "labels": row.labels,
    }


def json_body(meta: dict[str, object], rows: Iterable[Row]) -> tuple[bytes, int]:
    """The whole JSON document and its row count."""
    out = [row_json(r) for r in rows]
    return json.dumps({**meta, "rows": out}, sort_keys=True).encode(), len(out)


def csv_lines(rows: Iterable[Row], dimensions: tuple[str, ...], labels: list[str]) -> Iterator[str]:
    """CSV: a header, then one line per row; an empty field is a suppressed figure.

    ``labels`` are ``dim:label`` column names. Lines are yielded in chunks of
    many rows (a streamed response sends each chunk as it comes).
    """
    del dimensions
    head = ["start", "end", "camera", "total", "late", "withheld_windows", "windows", *labels]
    yield ",".join(head) + "\n"
    chunk: list[str] = []
    split = [tuple(c.split(":", 1)) for c in labels]
    for r in rows:
        total = "" if r.total is None else str(r.total)
        late = "" if r.late is None else str(r.late)
        line = f"{r.start},{r.end},{r.camera},{total},{late},{r.withheld_windows},{r.windows}"
        if split:
            line += "," + ",".join(str(r.labels.get(d, {}).get(lab, 0)) for d, lab in split)
        chunk.append(line)
        if len(chunk) >= 5000:
            yield "\n".join(chunk) + "\n"
            chunk = []
    if chunk:
        yield "\n".join(chunk) + "\n"


def datex_chunks(
    rows: Iterable[Row], grant: GrantView, *, publisher: str, country: str, now_s: int
) -> Iterator[str]:
    """A DATEX II v3 ``MeasuredDataPublication`` (``d2:payload``), streamed."""
    ns = " ".join(f'xmlns:{p}="{uri}"' for p, uri in DATEX_NS.items())
    confidentiality = "noRestriction" if grant.onward_sharing else "restrictedToAuthorities"
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<d2:payload {ns} xsi:type="roa:MeasuredDataPublication" lang="en" '
        'modelBaseVersion="3">'
        f"<com:publicationTime>{iso(now_s)}</com:publicationTime>"
        f"<com:publicationCreator><com:country>{escape(country)}</com:country>"
        f"<com:nationalIdentifier>{escape(publisher)}</com:nationalIdentifier>"
        "</com:publicationCreator>"
        f'<roa:measurementSiteTableReference targetClass="roa:MeasurementSiteTable" '
        f'id={quoteattr(publisher)} version="1"/>'
        f"<roa:headerInformation><com:confidentiality>{confidentiality}</com:confidentiality>"
        "<com:informationStatus>real</com:informationStatus></roa:headerInformation>\n"
    )
    for r in rows:
        site = r.camera if r.camera != "*" else f"grant-{grant.id}"
        step = r.end - r.start
        quantity = ""
        if r.total is not None:
            rate = round(r.total * 3600 / step)
            quantity = (
                '<roa:physicalQuantity index="1">'
                '<roa:physicalQuantity xsi:type="roa:SinglePhysicalQuantity">'
                '<roa:basicData xsi:type="roa:TrafficFlow"><roa:vehicleFlow>'
                f"<com:vehicleFlowRate>{rate}</com:vehicleFlowRate>"
                "</roa:vehicleFlow></roa:basicData></roa:physicalQuantity></roa:physicalQuantity>"
            )
        yield (
            "<roa:siteMeasurements>"
            f'<roa:measurementSiteReference targetClass="roa:MeasurementSite" '
            f'id={quoteattr(site)} version="1"/>{quantity}'
            f"<roa:measurementTimeDefault><roa:timeValue>{iso(r.end)}</roa:timeValue>"
            f"<roa:period>{step}</roa:period></roa:measurementTimeDefault>"
            "</roa:siteMeasurements>\n"
        )
    yield "</d2:payload>\n"
