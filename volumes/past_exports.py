"""Finding the finished exports in a volume folder: every sub-folder with a metadata.json (written last, so only a
complete export has one), and one level further inside project export areas (`project-<id>`). Exports of the
original tool carry the same keys and are found too."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from db.errors import DomainError
from volumes.base import Volumes
from volumes.paths import VolumePath

MAX_METADATA_BYTES = 1 << 20  # ours are a few kB; anything bigger is not an export's
MAX_FOLDERS = 500  # sub-folders looked into per listing (a stat each): a budget for a volume of years of exports
AREA = re.compile(r"^project-\d+$")


@dataclass(frozen=True)
class PastExport:
    path: str
    project_id: int | None
    project_name: str
    version: int
    task_type: str
    format: str
    image_count: int
    annotation_count: int
    exported_at: str
    exported_by: str
    reference: bool  # a reference snapshot: the images were not copied
    images_copied: bool
    accepted_only: bool


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def parse_metadata(path: str, raw: bytes) -> PastExport | None:
    """An export described by metadata.json, or None when it is not one (not an object, no project name)."""
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(meta) is not dict or type(meta.get("project_name")) is not str:
        return None
    task: str = meta["task_type"] if type(meta.get("task_type")) is str else ""
    reference = meta.get("snapshot") == "reference"
    copied = meta.get("includeImages", meta.get("images_copied", not reference))
    default_format = {"DETECTION": "COCO", "detection": "COCO", "CLASSIFICATION": "CSV", "classification": "CSV"}
    fmt: str = meta["format"] if type(meta.get("format")) is str else default_format.get(task, "")
    return PastExport(path=path, project_id=_int(meta.get("project_id")), project_name=meta["project_name"],
                      version=_int(meta.get("version")) or 1, task_type=task.upper(), format=fmt,
                      image_count=_int(meta.get("image_count")) or 0,
                      annotation_count=_int(meta.get("annotation_count")) or 0,
                      exported_at=str(meta.get("exported_at") or ""), exported_by=str(meta.get("exported_by") or ""),
                      reference=reference, images_copied=bool(copied), accepted_only=bool(meta.get("acceptedOnly")))


def _read(volumes: Volumes, folder: VolumePath) -> PastExport | None:
    path = folder.child("metadata.json")
    try:
        if volumes.stat(path).size > MAX_METADATA_BYTES:
            return None
        with volumes.open(path) as fp:
            return parse_metadata(folder.text, fp.read(MAX_METADATA_BYTES + 1))
    except (DomainError, OSError):  # no metadata.json (not an export, or one still being written), unreadable
        return None


def _folders(volumes: Volumes, folder: VolumePath) -> list[VolumePath]:
    """The sub-folders that may be exports: folder's own, and those of the project export areas in it."""
    out: list[VolumePath] = []
    for entry in volumes.list(folder):
        if not entry.is_dir:
            continue
        child = folder.child(entry.name)
        if AREA.match(entry.name):
            try:
                out += [child.child(e.name) for e in volumes.list(child) if e.is_dir]
            except DomainError:
                continue
        else:
            out.append(child)
        if len(out) >= MAX_FOLDERS:
            break
    return out[:MAX_FOLDERS]


def find(volumes: Volumes, folders: list[VolumePath]) -> list[PastExport]:
    """The exports in these folders, newest first (blocking: run it in a worker thread). Remote metadata files
    are read a few at a time."""
    candidates: list[VolumePath] = []
    for folder in folders:
        try:
            candidates += _folders(volumes, folder)
        except DomainError:  # a project's export area not made yet, a share whose folder was removed
            continue
    candidates = list(dict.fromkeys(candidates))[:MAX_FOLDERS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = [e for e in pool.map(lambda f: _read(volumes, f), candidates) if e is not None]
    return sorted(found, key=lambda e: (e.exported_at, e.path), reverse=True)
