"""Pascal VOC: Annotations/<name>.xml per image (1-based pixel corners, as the VOC devkit reads them) and
ImageSets/Main/trainval.txt (with splits: train.txt, val.txt and test.txt too, trainval.txt being train and val).
Sub-folders in filenames become `__` so every image has one flat name."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from xml.sax.saxutils import escape

from db.records import SPLIT_NAMES, ExportSample, ExportSnapshot

MAX_FLAT_BYTES = 200


def flat_name(filename: str) -> str:
    """`a/b/c.jpg` -> `a__b__c.jpg`; a name that would pass 200 bytes (deep folders) becomes a hash of the whole
    filename and its end, so it stays unique and fits any file system's 255."""
    flat = filename.replace("/", "__")
    if len(flat.encode()) <= MAX_FLAT_BYTES:
        return flat
    tail = flat.encode()[-(MAX_FLAT_BYTES - 20):].decode(errors="ignore")
    return f"{hashlib.sha1(filename.encode()).hexdigest()[:16]}__{tail}"


def _xml(s: ExportSample, folder: str) -> bytes:
    objects = []
    for a in s.annotations:
        if not a.box:
            continue
        x, y, w, h = a.box
        xmin, ymin = round(x * s.width) + 1, round(y * s.height) + 1
        xmax, ymax = max(xmin, round((x + w) * s.width)), max(ymin, round((y + h) * s.height))
        objects.append(f"""  <object>
    <name>{escape(a.label)}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>
  </object>""")
    body = "\n".join(objects)
    return f"""<annotation>
  <folder>{escape(folder)}</folder>
  <filename>{escape(flat_name(s.filename))}</filename>
  <size><width>{s.width}</width><height>{s.height}</height><depth>3</depth></size>
  <segmented>0</segmented>
{body}
</annotation>
""".encode()


def files(snapshot: ExportSnapshot) -> Iterator[tuple[str, bytes]]:
    names: dict[str | None, list[str]] = {}
    for s in snapshot.samples:
        stem = str(PurePosixPath(flat_name(s.filename)).with_suffix(""))
        names.setdefault(s.split, []).append(stem)
        yield f"Annotations/{stem}.xml", _xml(s, "JPEGImages")
    if not snapshot.has_splits:
        yield "ImageSets/Main/trainval.txt", _listing(names.get(None, []))
        return
    for split, name in SPLIT_NAMES.items():
        yield f"ImageSets/Main/{name}.txt", _listing(names.get(split, []))
    yield "ImageSets/Main/trainval.txt", _listing(names.get("TRAIN", []) + names.get("VALIDATION", []))


def _listing(stems: list[str]) -> bytes:
    return "".join(f"{stem}\n" for stem in stems).encode()
