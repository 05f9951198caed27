"""CSV: `filename,label` (plus x,y,w,h normalised for detection, and split when the project has splits), one row per
label or box, RFC 4180 quoting.
Label cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading apostrophe;
file names are written exactly as the files are named (a changed name would no longer match `images/<name>`), so a
spreadsheet must import the file as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from db.records import SPLIT_NAMES, ExportSnapshot

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def rows(snapshot: ExportSnapshot) -> Iterator[bytes]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    detection = snapshot.task_type == "DETECTION"
    splits = snapshot.has_splits
    out.writerow((["filename", "label", "x", "y", "w", "h"] if detection else ["filename", "label"])
                 + (["split"] if splits else []))
    for s in snapshot.samples:
        tail = [SPLIT_NAMES.get(s.split or "", "")] if splits else []
        if detection and not s.annotations:
            out.writerow([s.filename, "", "", "", "", "", *tail])  # a negative: labelled, nothing in it
        for a in s.annotations:
            row = [s.filename, safe_cell(a.label)]
            if detection:
                row += [f"{v:.8f}" for v in a.box] if a.box else ["", "", "", ""]
            out.writerow(row + tail)
        if buf.tell() > 1 << 16:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
