"""Hostile imports against the real server at its default limits: zip bombs (by ratio, by a lying header), a zip
of a million members, a 100 MB line, 100 MB of JSON nesting, a flood of tiny COCO entries, one giant entry, a
YAML tag and badly typed rows. Each import must end FAILED with a reason while the server's peak memory stays
under 1 GB and `/health` keeps answering fast."""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from bench.datasets import _peak_rss_mb
from bench.figures import Figure, percentile
from bench.live_server import live_server
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work" / "hostile"
MB = 2**20
BIG = 100 * MB  # well inside IMPORT_MAX_BYTES (200 MB): the other limits must stop these


def _deflated(path: Path, name: str, mb: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("classes.txt", b"cat\n")
        with z.open(name, "w", force_zip64=True) as f:
            for _ in range(mb):
                f.write(b"\n" * MB)


def _lying(path: Path) -> None:
    """A member whose central directory entry says 1,000 bytes and whose data inflates to 1 GB."""
    _deflated(path, "labels/a.txt", 1024)
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last entry: labels/a.txt
    assert data[central + 46:central + 46 + 12] == b"labels/a.txt"
    data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _members(path: Path, n: int) -> None:
    """n empty stored members, written directly (zipfile takes minutes for a million)."""
    crc = zlib.crc32(b"")
    with path.open("wb") as f:
        offsets = []
        for i in range(n):
            name = f"i/{i:07}".encode()
            offsets.append(f.tell())
            f.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0) + name)
        start = f.tell()
        for i, offset in enumerate(offsets):
            name = f"i/{i:07}".encode()
            f.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0,
                                0, 0, 0, 0, offset) + name)
        size = f.tell() - start
        f.write(struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, size, start))
        f.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, start + size, 1))
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def _repeat(path: Path, head: bytes, unit: bytes, total: int, tail: bytes) -> None:
    block = unit * (MB // len(unit))
    with path.open("wb") as f:
        f.write(head)
        for _ in range(total // len(block)):
            f.write(block)
        f.write(tail)


def _hex_line_zip(path: Path, mb: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("classes.txt", b"cat\n")
        with z.open("labels/a.txt", "w", force_zip64=True) as f:
            f.write(b"0 ")
            for _ in range(mb):
                f.write(os.urandom(MB // 2).hex().encode())


def _typed(path: Path) -> None:
    path.write_bytes(orjson.dumps({
        "images": [{"id": [1], "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg", "width": True, "height": 10}],
        "categories": [{"id": {"x": 1}, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [True, 10, 100, 50]}]}))


def _yaml_tag(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.yaml", "names: !!python/object/apply:os.system ['echo pwned']\n")
        z.writestr("labels/a.txt", "0 0.5 0.5 0.1 0.1\n")


HOSTILE: dict[str, tuple[str, Callable[[Path], None], str]] = {  # file: (format, builder, words of the reason)
    "bomb-1gb.zip": ("YOLO", lambda p: _deflated(p, "labels/a.txt", 1024), "IMPORT_MAX_BYTES"),
    "bomb-ratio.zip": ("YOLO", lambda p: _deflated(p, "labels/a.txt", 150), "expands"),
    "bomb-lying.zip": ("YOLO", _lying, "its header says"),
    "million-members.zip": ("YOLO", lambda p: _members(p, 1_000_101), "members"),
    "line.jsonl": ("JSONL", lambda p: _repeat(p, b'{"filename": "', b"a", BIG, b'"}\n'), "IMPORT_MAX_ROW_BYTES"),
    "rows.jsonl": ("JSONL", lambda p: _repeat(p, b"", b'{"filename":"a"}\n', 16 * MB, b""), "IMPORT_MAX_ITEMS"),
    "line.zip": ("YOLO", lambda p: _hex_line_zip(p, 100), "IMPORT_MAX_ROW_BYTES"),
    "nesting.json": ("COCO", lambda p: _repeat(p, b'{"images": [{"x": ', b"[", BIG, b""), "nested too deeply"),
    "flood.json": ("COCO", lambda p: _repeat(p, b'{"images": [', b"{},", BIG, b"{}]}"), "IMPORT_MAX_ITEMS"),
    "giant-entry.json": ("COCO", lambda p: _repeat(p, b'{"images": [{"file_name": "', b"a", BIG, b'"}]}'),
                         "IMPORT_MAX_ROW_BYTES"),
    "typed.json": ("COCO", _typed, "must be"),
    "yaml-tag.zip": ("YOLO", _yaml_tag, "YAML tag"),
}


def _prepare() -> None:
    exports = WORK / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (WORK / "images").mkdir(exist_ok=True)
    for i in range(4):
        (WORK / "images" / f"{i}.jpg").touch()
    for name, (_, build, _) in HOSTILE.items():
        if not (exports / name).exists():
            build(exports / f".{name}")
            (exports / f".{name}").rename(exports / name)


def _health(base: str, stop: threading.Event, out: list[float]) -> None:
    """/health back to back (20 ms apart) until stop; milliseconds per answer."""
    with httpx.Client(base_url=base, timeout=10) as http:
        while not stop.is_set():
            t0 = time.perf_counter()
            assert http.get("/health").status_code == 200
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.02)


def run() -> list[Figure]:
    _prepare()
    shutil.rmtree(WORK / "data", ignore_errors=True)
    (WORK / "bench.db").unlink(missing_ok=True)
    procs: list = []
    latencies: list[float] = []
    seconds: dict[str, float] = {}
    with live_server({"DATABASE_URL": f"sqlite:///{WORK / 'bench.db'}", "DATA_DIR": str(WORK / "data"),
                      "VOLUME_MOUNTS": f"/Volumes/b/h/images={WORK / 'images'};/Volumes/b/h/exports={WORK / 'exports'}",
                      }, procs=procs) as base, httpx.Client(base_url=base, timeout=60) as http:
        pid = gql(http, """mutation { createProject(input: {name: "hostile", taskType: DETECTION, classes: ["cat"],
            sourceVolume: "/Volumes/b/h/images"}) { id } }""")["createProject"]["id"]
        baseline = _peak_rss_mb(procs[0].pid)
        stop = threading.Event()
        poller = threading.Thread(target=_health, args=(base, stop, latencies))
        poller.start()
        try:
            for name, (fmt, _, words) in HOSTILE.items():
                t0 = time.perf_counter()
                job = gql(http, """mutation($p: ID!, $path: String!, $f: ImportFormat!){ importAnnotations(
                    projectId: $p, input: {path: $path, format: $f}) { id } }""", p=pid,
                          path=f"/Volumes/b/h/exports/{name}", f=fmt)["importAnnotations"]
                while True:
                    state = gql(http, "query($j: ID!){ job(id: $j){ status error } }", j=job["id"])["job"]
                    if state["status"] not in ("QUEUED", "RUNNING"):
                        break
                    time.sleep(0.05)
                seconds[name] = time.perf_counter() - t0
                assert state["status"] == "FAILED" and words in state["error"], (name, state)
                assert "Unexpected error" not in state["error"], (name, state)
        finally:
            stop.set()
            poller.join()
        peak = _peak_rss_mb(procs[0].pid)
    shutil.rmtree(WORK, ignore_errors=True)
    slowest = max(seconds, key=seconds.__getitem__)
    return [
        Figure("server peak memory during hostile imports (VmHWM, 12 files at the default limits)", peak, "MB", 1024),
        Figure("... the server's peak before them (reported)", baseline, "MB", 0, higher_is_better=True),
        Figure("/health p99 during hostile imports", percentile(latencies, 99), "ms", 100),
        Figure(f"slowest refusal, queued to FAILED ({slowest}, reported)", seconds[slowest], "s", 0,
               higher_is_better=True),
    ]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
