"""GET /api/projects/{project_id}/samples.ndjson: a project's samples with their annotations as one JSON object a
line, filtered like the gallery and keyset-paged by id, for scripts that read a whole project (the Python client's
iteration): one streamed answer of up to 100,000 samples instead of hundreds of GraphQL pages."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from db import samples as sample_rows
from db.errors import Invalid
from routes.identity import user_of
from schema.access import Access
from schema.ids import parse_id
from schema.services import Services

DEFAULT_FIRST, MAX_FIRST = 10_000, 100_000
BATCH = 5_000  # samples read (and encoded, on the worker thread) per unit of work
FILTERS = {"status": "status", "label": "label", "filename": "filename", "labeledBy": "labeled_by",
           "reviewStatus": "review_status"}


def _whole(value: str, name: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise Invalid(f"{name} must be a whole number from {low:,} to {high:,}, not {value[:40]!r}.")
    return int(value)


def _filter(params: dict[str, str]) -> sample_rows.SampleFilter:
    unknown = sorted(set(params) - {*FILTERS, "maxConfidence", "after", "first"})
    if unknown:
        raise Invalid(f"Unknown parameter {unknown[0][:40]!r}: the filters are {', '.join(FILTERS)} and "
                      "maxConfidence; paging takes after and first.")
    chosen: dict[str, object] = {FILTERS[k]: v for k, v in params.items() if k in FILTERS}
    if "maxConfidence" in params:
        try:
            chosen["max_confidence"] = float(params["maxConfidence"])
        except ValueError:
            chosen["max_confidence"] = math.nan
        if not 0 <= chosen["max_confidence"] <= 1:  # type: ignore[operator]
            raise Invalid("maxConfidence must be a number from 0 to 1.")
    return sample_rows.SampleFilter(**chosen)  # type: ignore[arg-type]


def _encode(rows: Sequence[Any], by_sample: dict[int, list[Any]]) -> bytes:
    """The rows as NDJSON: the hot loop of a million-sample stream, so rows are read by position, ids stay numbers
    and boxes tuples (each str() or list made per row cost about as much as the encoding)."""
    dumps, newline, empty = orjson.dumps, orjson.OPT_APPEND_NEWLINE, ()
    anns = {sid: [{"id": a[1], "label": a[2], "kind": a[3], "box": None if a[4] is None else (a[4], a[5], a[6], a[7]),
                   "confidence": a[8], "isDraft": bool(a[9]), "createdBy": a[10]} for a in found]
            for sid, found in by_sample.items()}
    return b"".join([dumps({"id": r[0], "filename": r[1], "path": r[2], "status": r[3], "width": r[4],
                            "height": r[5], "version": r[6], "annotations": anns.get(r[0], empty)}, option=newline)
                     for r in rows])


def _batch(session: object, project_id: int, f: sample_rows.SampleFilter, after: int, first: int
           ) -> tuple[bytes, int, int]:
    """One batch encoded on the worker thread: (lines, how many, last id)."""
    rows, by_sample = sample_rows.feed_batch(session, project_id, f, after=after, first=first)  # type: ignore[arg-type]
    return _encode(rows, by_sample), len(rows), rows[-1].id if rows else after


async def samples_ndjson(request: Request) -> Response:
    """Viewers of the project. Query parameters: the gallery's filters (status, label, filename, labeledBy,
    maxConfidence, reviewStatus), `after` (a sample id, exclusive) and `first` (default 10,000, at most 100,000).
    The last line is `{"done": true, "count": n, "hasNextPage": bool, "endCursor": id}`: a stream without it was
    cut short."""
    services: Services = request.app.state.services
    project_id = parse_id(request.path_params["project_id"], "Project")
    await Access(services.db, await user_of(request)).project(project_id, "viewer")
    params = dict(request.query_params)
    f = _filter(params)
    after = _whole(params.get("after", "0"), "after", 0, 2**62)
    first = _whole(params.get("first", str(DEFAULT_FIRST)), "first", 1, MAX_FIRST)
    # The first batch is read before the answer starts, so a bad filter (an unknown status) is a plain 400.
    asked = min(BATCH, first)
    head = await services.db.read(_batch, project_id, f, after, asked)

    async def lines() -> AsyncIterator[bytes]:
        (data, n, last), wanted = head, asked
        sent, cursor = 0, after
        while n:
            yield data
            sent, cursor = sent + n, last
            if n < wanted or sent >= first:
                break
            wanted = min(BATCH, first - sent)
            data, n, last = await services.db.read(_batch, project_id, f, cursor, wanted)
        more = sent >= first and (await services.db.read(_batch, project_id, f, cursor, 1))[1] > 0
        yield orjson.dumps({"done": True, "count": sent, "hasNextPage": more,
                            "endCursor": str(cursor) if sent else None}) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
