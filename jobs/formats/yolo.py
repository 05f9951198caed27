"""YOLO detection: labels/<image path without extension>.txt with `class cx cy w h` (normalised, centre-based;
an optional sixth column, a confidence, is checked and not kept) per line, class names from classes.txt (one per
line) or data.yaml (`names:` list or {id: name} map). A folder or a zip; files are read one at a time, line by
line."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import yaml

from db.errors import TooLarge
from db.records import SPLIT_NAMES, ExportSnapshot, ImportItem, RowError, RowErrors, confirmed
from jobs.formats import Limits, Parsed, values, zip_reader
from jobs.formats.reading import Budget, lines

CLASS_FILES = ("classes.txt", "data.yaml", "data.yml")
CLASS_FILE_MAX = 1 << 20
EXTRA_FILES = 100  # class files and stray .txt files a tree may hold besides one label file per image
FIELDS = ("cx", "cy", "w", "h")


@dataclass(frozen=True, slots=True)
class TreeFile:
    path: str  # relative to the folder, or the name inside the zip
    size: int  # as listed
    ref: Any  # what the opener needs to find the file again (a zip member, a volume path)


Opener = Callable[[TreeFile], io.BufferedReader]


def wanted(path: str) -> bool:
    """The files a YOLO tree is read for: label files and class lists."""
    return path.endswith((".txt", ".yaml", ".yml"))


def _is_label(path: str) -> bool:
    return path.endswith(".txt") and "labels/" in f"/{path}" and PurePosixPath(path).name != "classes.txt"


def _names_from_yaml(doc: Any) -> list[str]:
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        if sorted(k for k in names if type(k) is int) != list(range(len(names))):
            raise ValueError("names: the ids of a names map must be 0, 1, 2, … (whole numbers)")
        names = [names[k] for k in range(len(names))]
    if not isinstance(names, list):
        raise ValueError("there is no names list (or map)")
    for k, name in enumerate(names):
        if type(name) is not str:
            raise ValueError(f"names[{k}] must be a string, not {values.describe(name)} (quote it)")
        values.storable(name, f"names[{k}]")
    return names


def class_names(files: Sequence[TreeFile], open_file: Opener) -> tuple[list[str] | None, RowError | None]:
    """From classes.txt or data.yaml, wherever they sit in the tree (the shallowest one wins)."""
    found = [f for f in files if PurePosixPath(f.path).name in CLASS_FILES]
    if not found:
        return None, RowError(0, "", "no classes.txt or data.yaml with names")
    f = min(found, key=lambda f: (f.path.count("/"), f.path))
    with open_file(f) as fp:
        data = fp.read(CLASS_FILE_MAX + 1)
    if len(data) > CLASS_FILE_MAX:
        raise TooLarge(f"{f.path} is larger than {CLASS_FILE_MAX // 2**20} MB; a class list takes at most that.")
    try:
        if f.path.endswith(".txt"):
            names = [values.storable(line.strip(), "a class name") for line in data.decode("utf-8").splitlines()
                     if line.strip()]
        else:  # safe loading: no Python objects, and any tag (!!python/object, !custom) is an error
            names = _names_from_yaml(yaml.safe_load(data))
    except UnicodeDecodeError:
        return None, RowError(0, f.path, "the file is not UTF-8 text")
    except yaml.YAMLError as exc:
        return None, RowError(0, f.path, "not valid YAML or a YAML tag (tags such as !!python/object are not "
                                         f"allowed): {str(exc).splitlines()[0]}")
    except RecursionError:
        return None, RowError(0, f.path, "nested too deeply")
    except ValueError as exc:
        return None, RowError(0, f.path, str(exc))
    return names, None


def _box(line: bytes, classes: int) -> tuple[int, values.Box]:
    parts = line.decode("utf-8", "replace").split()
    if len(parts) not in (5, 6):
        raise ValueError(f"expected `class cx cy w h`, found {len(parts)} values")
    cls = values.whole_text(parts[0], "the class")
    if cls >= classes:
        raise ValueError(f"class {cls} is not between 0 and {classes - 1}")
    cx, cy, w, h = (values.number_text(p, f) for p, f in zip(parts[1:5], FIELDS, strict=True))
    if len(parts) == 6 and not 0 <= values.number_text(parts[5], "the confidence") <= 1:
        raise ValueError("the confidence must be between 0 and 1")
    return cls, (cx - w / 2, cy - h / 2, w, h)


def read_tree(files: Sequence[TreeFile], open_file: Opener, limits: Limits) -> Parsed:
    """files: what the folder (or the zip) holds; each label file is opened, read line by line and closed in
    turn, and rows are counted against the limits as they come."""
    names, problem = class_names(files, open_file)
    if names is None:
        assert problem is not None
        return Parsed([], RowErrors([problem]))
    labels = sorted((f for f in files if _is_label(f.path)), key=lambda f: f.path)
    limits.items(len(labels))
    items, errors, count, seen = [], RowErrors(), 0, 0
    for n, f in enumerate(labels, start=1):
        stem = f.path.split("labels/", 1)[1][: -len(".txt")]
        annotations = []
        with open_file(f) as fp:
            for k, line in lines(fp, limits.max_row_bytes, f.path):
                if not line.strip():
                    continue
                seen += 1
                limits.annotations(seen)
                try:
                    cls, box = _box(line, len(names))
                except ValueError as exc:
                    errors.add(RowError(n, stem, f"{f.path} line {k}: {exc}"))
                    continue
                annotations.append(confirmed(names[cls], box))
                count += 1
        items.append(ImportItem(n, stem, tuple(annotations)))  # matched by path without extension
    return Parsed(items, errors, count)


def zip_tree(fp: BinaryIO, limits: Limits, budget: Budget) -> tuple[list[TreeFile], Opener]:
    """The zip's label files and class lists, every member checked first (names, sizes, ratios, how many)."""
    files, declared = [], 0
    for m in zip_reader.members(fp, 2 * limits.max_items + EXTRA_FILES):
        zip_reader.check_name(m.name)
        if m.name.endswith("/") or not wanted(m.name):
            continue
        zip_reader.check_member(m, limits.max_bytes)
        declared += m.size
        if declared > limits.max_bytes:
            raise TooLarge(f"The label files in the zip unpack to more than {limits.max_bytes / 2**20:,.0f} MB; "
                           "imports take at most that (IMPORT_MAX_BYTES).")
        files.append(TreeFile(m.name, m.size, m))
        limits.items(len(files) - EXTRA_FILES)
    return files, lambda f: zip_reader.open_member(fp, f.ref, budget)


def label_files(snapshot: ExportSnapshot) -> Iterator[tuple[str, bytes]]:
    index = {c: i for i, c in enumerate(snapshot.classes)}
    for s in snapshot.samples:
        stem = str(PurePosixPath(s.filename).with_suffix(""))
        rows = [f"{index[a.label]} {a.box[0] + a.box[2] / 2:.8f} {a.box[1] + a.box[3] / 2:.8f} "
                f"{a.box[2]:.8f} {a.box[3]:.8f}" for a in s.annotations if a.box]
        yield f"labels/{stem}.txt", ("\n".join(rows) + ("\n" if rows else "")).encode()


def split_lists(snapshot: ExportSnapshot) -> Iterator[tuple[str, bytes]]:
    """train.txt, val.txt and test.txt listing each split's images (relative to data.yaml's path), when the
    project has splits and that split has images."""
    for split, name in SPLIT_NAMES.items():
        part = [f"./images/{s.filename}" for s in snapshot.samples if s.split == split]
        if part and snapshot.has_splits:
            yield f"{name}.txt", ("\n".join(part) + "\n").encode()


def data_yaml(snapshot: ExportSnapshot, with_images: bool) -> bytes:
    """With splits, train/val/test name the split lists; without, every image is both train and val."""
    doc: dict[str, Any] = {"path": ".", "nc": len(snapshot.classes), "names": list(snapshot.classes)}
    if snapshot.has_splits:
        for name, _ in split_lists(snapshot):
            doc[name.removesuffix(".txt")] = name
    elif with_images:
        doc["train"] = "images"
        doc["val"] = "images"
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text.encode()
