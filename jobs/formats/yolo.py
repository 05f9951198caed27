"""YOLO detection: labels/<image path without extension>.txt with `class cx cy w h` (normalised, centre-based)
per line, class names from classes.txt (one per line) or data.yaml (`names:` list or {id: name} map)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import yaml

from jobs.formats import ExportSnapshot, ImportItem, ItemAnnotation, Parsed, RowError


def class_names(files: dict[str, bytes]) -> list[str] | None:
    """From classes.txt or data.yaml, wherever they sit in the tree (the shallowest one wins)."""
    for name in sorted(files, key=lambda p: (p.count("/"), p)):
        base = PurePosixPath(name).name
        if base == "classes.txt":
            return [line.strip() for line in files[name].decode("utf-8").splitlines() if line.strip()]
        if base in ("data.yaml", "data.yml"):
            names: Any = (yaml.safe_load(files[name]) or {}).get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names, key=int)]
            if isinstance(names, list):
                return [str(n) for n in names]
    return None


def read_tree(files: dict[str, bytes]) -> Parsed:
    """files: relative path -> bytes of everything under the folder (or in the zip)."""
    names = class_names(files)
    if names is None:
        return Parsed([], [RowError(0, "", "no classes.txt or data.yaml with names")])
    items, errors, count = [], [], 0
    labels = sorted(p for p in files if p.endswith(".txt") and "labels/" in f"/{p}" and
                    PurePosixPath(p).name != "classes.txt")
    for n, p in enumerate(labels, start=1):
        stem = p.split("labels/", 1)[1][: -len(".txt")]
        item = ImportItem(n, stem)  # matched by path without extension
        for k, line in enumerate(files[p].decode("utf-8", "replace").splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                cls = int(parts[0])
                cx, cy, w, h = (float(v) for v in parts[1:5])
                if len(parts) < 5 or not 0 <= cls < len(names):
                    raise ValueError
            except ValueError:
                errors.append(RowError(n, stem, f"{p} line {k}: expected `class cx cy w h` with a class from "
                                                f"0 to {len(names) - 1}"))
                continue
            item.annotations.append(ItemAnnotation(names[cls], "BBOX", (cx - w / 2, cy - h / 2, w, h)))
            count += 1
        items.append(item)
    return Parsed(items, errors, count)


def read_zip(fp: Any) -> Parsed:
    with zipfile.ZipFile(fp) as z:
        files = {i.filename: z.read(i) for i in z.infolist()
                 if not i.is_dir() and (i.filename.endswith((".txt", ".yaml", ".yml")))}
    return read_tree(files)


def label_files(snapshot: ExportSnapshot) -> Iterator[tuple[str, bytes]]:
    index = {c: i for i, c in enumerate(snapshot.classes)}
    for s in snapshot.samples:
        stem = str(PurePosixPath(s.filename).with_suffix(""))
        rows = [f"{index[a.label]} {a.box[0] + a.box[2] / 2:.8f} {a.box[1] + a.box[3] / 2:.8f} "
                f"{a.box[2]:.8f} {a.box[3]:.8f}" for a in s.annotations if a.box]
        yield f"labels/{stem}.txt", ("\n".join(rows) + ("\n" if rows else "")).encode()


def data_yaml(snapshot: ExportSnapshot, with_images: bool) -> bytes:
    doc: dict[str, Any] = {"path": ".", "nc": len(snapshot.classes), "names": list(snapshot.classes)}
    if with_images:
        doc["train"] = "images"
        doc["val"] = "images"
    return yaml.safe_dump(doc, sort_keys=False).encode()
