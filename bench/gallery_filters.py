"""Every gallery filter at 1,000,000 samples on PostgreSQL (CVX_BENCH_GALLERY_SAMPLES=10000000: ten million):
totalCount + first page and a deep keyset page over HTTP, each query's EXPLAIN ANALYZE written to
bench/plans/gallery_filters.md (gallery_filters_10000000.md), then the labelling loop on the same database (claim
the next image, save 3 boxes) and the project's stats."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bench.figures import Figure, percentile
from bench.live_server import live_server
from bench.scratch_databases import PG_ADMIN
from db import counters, projects
from db import labels as label_rows
from db import samples as sample_rows
from db.engine import Database
from db.geometry import GeometryFilter
from db.migrate import upgrade
from db.models import Annotation, DraftedLabel, Project, Sample
from db.records import AnnotationRecord
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work"
N = int(os.environ.get("CVX_BENCH_GALLERY_SAMPLES", "1000000"))
PLANS = Path(__file__).resolve().parent / "plans" / ("gallery_filters.md" if N == 1_000_000 else
                                                     f"gallery_filters_{N}.md")
DB_NAME = f"cvx_bench_gallery_filters_{N}_v1"  # built once and kept: the data's recipe is in _build
SIZE = "1M" if N == 1_000_000 else f"{N:,}"
PAGE_TARGET_MS = 30 if N <= 1_000_000 else 100  # the targets at 1,000,000 and 10,000,000 samples
REPEATS = 25 if N <= 1_000_000 else 9
COUNT_REPEATS = 7 if N <= 1_000_000 else 3
LOOP = 300  # images claimed and saved one after the other
CLAIM = "mutation($p: ID!){ claimNextSample(projectId: $p){ id version } }"
SAVE = """mutation($s: ID!, $a: [AnnotationInput!]!, $v: Int){
  saveAnnotations(sampleId: $s, annotations: $a, expectedVersion: $v){ id version } }"""
BOXES = [{"label": c, "kind": "BBOX", "box": {"x": 0.1 * i, "y": 0.1, "w": 0.2, "h": 0.3}}
         for i, c in enumerate(["cat", "dog", "car"], start=1)]
STATS = """query($p: ID!){ project(id: $p){ stats { total unlabeled preLabeled labeled skipped
  perUser { user labeled skipped annotations } perClass { label count } } } }"""

# Ten classes, from common to rare (share of boxes).
CLASSES = [("car", 0.40), ("person", 0.25), ("bicycle", 0.12), ("dog", 0.08), ("cat", 0.06), ("bus", 0.04),
           ("truck", 0.03), ("bird", 0.015), ("horse", 0.004), ("zebra", 0.001)]

# The client's gallery query (client/src/components/Gallery.svelte), with the API's geometry filter besides: the
# first page brings totalEstimate, an estimate is followed by COUNT, later pages bring neither.
GALLERY = """query Gallery($id: ID!, $status: SampleStatus, $filename: String, $label: String, $by: String,
    $first: Int, $after: String, $order: SampleOrder, $conf: Float, $review: ReviewStatus, $withTotal: Boolean = true,
    $geometry: GeometryFilter) {
  project(id: $id) { samples(status: $status, filename: $filename, label: $label, labeledBy: $by, first: $first,
                             after: $after, orderBy: $order, maxConfidence: $conf, reviewStatus: $review,
                             geometry: $geometry) {
    totalEstimate @include(if: $withTotal) { count exact } pageInfo { hasNextPage endCursor }
    edges { node { id filename status width height version reviewStatus thumbnailUrl(size: 256)
                   labelCounts { label kind count drafts } } } } } }"""
COUNT = """query GalleryCount($id: ID!, $status: SampleStatus, $filename: String, $label: String, $by: String,
    $conf: Float, $review: ReviewStatus, $geometry: GeometryFilter) {
  project(id: $id) { samples(status: $status, filename: $filename, label: $label, labeledBy: $by, first: 0,
                             maxConfidence: $conf, reviewStatus: $review, geometry: $geometry) { totalCount } } }"""

# (name, GraphQL variables, db filter, least-confident order)
CASES: list[tuple[str, dict[str, object], sample_rows.SampleFilter, bool]] = [
    ("no filter", {}, sample_rows.SampleFilter(), False),
    ("status LABELED", {"status": "LABELED"}, sample_rows.SampleFilter(status="LABELED"), False),
    ("label car (common)", {"label": "car"}, sample_rows.SampleFilter(label="car"), False),
    ("label zebra (rare)", {"label": "zebra"}, sample_rows.SampleFilter(label="zebra"), False),
    ("labeller user3", {"by": "user3"}, sample_rows.SampleFilter(labeled_by="user3"), False),
    ("confidence <= 0.3", {"conf": 0.3}, sample_rows.SampleFilter(max_confidence=0.3), False),
    ("review ACCEPTED", {"review": "ACCEPTED"}, sample_rows.SampleFilter(review_status="ACCEPTED"), False),
    ("review REJECTED", {"review": "REJECTED"}, sample_rows.SampleFilter(review_status="REJECTED"), False),
    ("filename part cam07", {"filename": "cam07"}, sample_rows.SampleFilter(filename="cam07"), False),
    ("filename part 12345", {"filename": "12345"}, sample_rows.SampleFilter(filename="12345"), False),
    ("status LABELED + label dog", {"status": "LABELED", "label": "dog"},
     sample_rows.SampleFilter(status="LABELED", label="dog"), False),
    ("label cat + labeller user1", {"label": "cat", "by": "user1"},
     sample_rows.SampleFilter(label="cat", labeled_by="user1"), False),
    ("labeller user2 + review REJECTED", {"by": "user2", "review": "REJECTED"},
     sample_rows.SampleFilter(labeled_by="user2", review_status="REJECTED"), False),
    ("status PRE_LABELED + confidence <= 0.5", {"status": "PRE_LABELED", "conf": 0.5},
     sample_rows.SampleFilter(status="PRE_LABELED", max_confidence=0.5), False),
    ("label bus + filename part cam1", {"label": "bus", "filename": "cam1"},
     sample_rows.SampleFilter(label="bus", filename="cam1"), False),
    ("geometry: more than 3 boxes", {"geometry": {"moreBoxesThan": 3}},
     sample_rows.SampleFilter(geometry=GeometryFilter(more_boxes_than=3)), False),
    ("geometry: a box under 500 px", {"geometry": {"smallerThanPx": 500}},
     sample_rows.SampleFilter(geometry=GeometryFilter(smaller_than_px=500)), False),
    ("geometry: nested boxes of a class + label dog", {"geometry": {"nestedSameClass": True}, "label": "dog"},
     sample_rows.SampleFilter(geometry=GeometryFilter(nested_same_class=True), label="dog"), False),
    ("least confident first", {"order": "LEAST_CONFIDENT"}, sample_rows.SampleFilter(), True),
    ("least confident first + label person (a few drafted samples carry it)",
     {"order": "LEAST_CONFIDENT", "label": "person"}, sample_rows.SampleFilter(label="person"), True),
    ("least confident first + label cat (no drafted sample carries it)", {"order": "LEAST_CONFIDENT", "label": "cat"},
     sample_rows.SampleFilter(label="cat"), True),
]
MIXED = 20  # labelled person images given a model's drafts besides: few drafted samples carry the label


async def _mix(url: str) -> None:
    """MIXED images labelled with a person get a model's drafts besides (a pre-label run over labelled images), once:
    least confident first with that label then has a few drafted samples among 150,000 (N / 1M) drafted ones."""
    db = Database(url)
    try:
        def unmixed(s: Session) -> list[int]:
            pid = s.scalar(select(Project.id).order_by(Project.id).limit(1))
            have = s.scalar(select(func.count()).select_from(DraftedLabel).where(
                DraftedLabel.project_id == pid, DraftedLabel.label == "person")) or 0
            return list(s.scalars(select(Annotation.sample_id).join(Sample, Sample.id == Annotation.sample_id).where(
                Annotation.project_id == pid, Annotation.label == "person", Annotation.is_draft.is_(False),
                Sample.min_confidence.is_(None)).distinct().order_by(Annotation.sample_id).limit(max(0, MIXED - have))))

        ids = await db.read(unmixed)
        for i, sid in enumerate(ids):
            drafts = [AnnotationRecord("dog", "BBOX", (0.1, 0.1, 0.2, 0.2), 0.2 + 0.6 * i / MIXED)]
            await label_rows.replace_drafts(db, sid, drafts, "model:bench")
    finally:
        await db.dispose()


def _url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _label_case(column: str) -> str:
    """A SQL CASE picking a class from a uniform [0, 1) column by the shares in CLASSES."""
    parts, edge = [], 0.0
    for name, share in CLASSES[:-1]:
        edge += share
        parts.append(f"WHEN {column} < {edge:.4f} THEN '{name}'")
    return f"CASE {' '.join(parts)} ELSE '{CLASSES[-1][0]}' END"


async def _build(name: str, n: int) -> None:
    """A project of n samples: half labelled by five users (a quarter of those reviewed), 15% pre-labelled by a
    model, 5% skipped, the rest new; 1-4 boxes a labelled sample, 1-3 drafts a pre-labelled one; filenames spread
    over 40 cameras. Random but seeded, generated inside PostgreSQL."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}_tmp" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}_tmp"')
    upgrade(_url(f"{name}_tmp"))
    db = Database(_url(f"{name}_tmp"))
    p = await db.write(projects.create_project, name="big", description="", task_type="DETECTION",
                       classes=[c for c, _ in CLASSES], multi_label=False, source_volume="/Volumes/bench/big/images",
                       created_by="bench")
    await db.dispose()
    with psycopg.connect(_url(f"{name}_tmp").replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT setseed(0.18)")
        c.execute(f"""
            INSERT INTO samples (project_id, path, filename, status, version, width, height, labeled_by, labeled_at,
                                 skipped_by, no_objects, review_status, reviewed_by, reviewed_at)
            SELECT {p.id}, '/Volumes/bench/big/images/' || cam || '/' || file, cam || '_' || file,
                   st, 1, 1920, 1080,
                   CASE WHEN st = 'LABELED' THEN 'user' || (i % 5) END,
                   CASE WHEN st = 'LABELED' THEN timestamptz '2026-11-01' + (i % 30) * interval '1 day' END,
                   CASE WHEN st = 'SKIPPED' THEN 'user' || (i % 5) END,
                   false,
                   CASE WHEN st = 'LABELED' AND r2 < 0.20 THEN 'ACCEPTED'
                        WHEN st = 'LABELED' AND r2 < 0.25 THEN 'REJECTED' ELSE 'NONE' END,
                   CASE WHEN st = 'LABELED' AND r2 < 0.25 THEN 'reviewer' END,
                   CASE WHEN st = 'LABELED' AND r2 < 0.25 THEN timestamptz '2026-11-20' END
            FROM (SELECT i, 'cam' || lpad((i % 40)::text, 2, '0') AS cam, 'img' || lpad(i::text, 8, '0') || '.jpg'
                         AS file, random() AS r2,
                         CASE WHEN r1 < 0.50 THEN 'LABELED' WHEN r1 < 0.65 THEN 'PRE_LABELED'
                              WHEN r1 < 0.70 THEN 'SKIPPED' ELSE 'UNLABELED' END AS st
                  FROM (SELECT i, random() AS r1 FROM generate_series(1, {n}) i) g) s
            ORDER BY i""")
        c.execute(f"""
            INSERT INTO annotations (project_id, sample_id, label, kind, x, y, w, h, confidence, is_draft,
                                     created_by, created_at)
            SELECT {p.id}, s.id, {_label_case('random()')}, 'BBOX', 0.1 * k, 0.1, 0.2, 0.3,
                   CASE WHEN s.status = 'PRE_LABELED' THEN random() END, s.status = 'PRE_LABELED',
                   coalesce(s.labeled_by, 'model'), timestamptz '2026-11-01'
            FROM samples s, generate_series(1, 1 + (s.id % CASE WHEN s.status = 'LABELED' THEN 4 ELSE 3 END)) k
            WHERE s.status IN ('LABELED', 'PRE_LABELED')
            ORDER BY s.id, k""")
        c.execute("""
            UPDATE samples s SET min_confidence = a.lo, max_confidence = a.hi
            FROM (SELECT sample_id, min(confidence) AS lo, max(confidence) AS hi FROM annotations
                  WHERE is_draft GROUP BY sample_id) a
            WHERE s.id = a.sample_id""")
        c.execute("""
            UPDATE samples SET nested_boxes = true WHERE id IN (
              SELECT a.sample_id FROM annotations a
                JOIN annotations b ON b.sample_id = a.sample_id AND b.label = a.label AND b.id <> a.id
               WHERE a.kind = 'BBOX' AND b.kind = 'BBOX' AND NOT a.is_draft AND NOT b.is_draft
                 AND a.x >= b.x AND a.y >= b.y AND a.x + a.w <= b.x + b.w AND a.y + a.h <= b.y + b.h)""")
        c.execute("""
            UPDATE samples s SET box_count = a.n, min_box_w = a.w, min_box_h = a.h
            FROM (SELECT sample_id, count(*) AS n, min(w) AS w, min(h) AS h FROM annotations
                  WHERE kind = 'BBOX' AND NOT is_draft GROUP BY sample_id) a
            WHERE s.id = a.sample_id""")
    db = Database(_url(f"{name}_tmp"))
    await db.write(counters.recount, p.id)
    await db.dispose()
    with psycopg.connect(_url(f"{name}_tmp").replace("+psycopg", ""), autocommit=True) as c:
        c.execute("VACUUM (ANALYZE) samples")
        c.execute("VACUUM (ANALYZE) annotations")
        c.execute("VACUUM (ANALYZE) drafted_labels")
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'ALTER DATABASE "{name}_tmp" RENAME TO "{name}"')


def _timed(n: int, call: Callable[[], object]) -> list[float]:
    """Milliseconds of n calls, after two unmeasured ones."""
    out = []
    for i in range(n + 2):
        t0 = time.perf_counter()
        call()
        if i >= 2:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _ms(plan: str) -> str:
    return plan.rsplit("Execution Time: ", 1)[-1].split(" ms")[0]


def _deep_after(variables: dict[str, object], least: bool) -> str:
    """A cursor about 90% of the way through the matching samples (a user far down the gallery)."""
    if least:
        return "lc:0.9:1" if "label" not in variables else f"lc:2.0:{int(N * 0.9)}"
    return str(int(N * 0.9))


def _explain(db: Database, pid: int, f: sample_rows.SampleFilter, least: bool, deep: object) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the SQL behind one gallery request: the page, the deep page and the count."""
    out = []
    with db.reading() as s:
        how = sample_rows.driving(s, pid, f)  # as db.samples.page* choose it
        statements: list[tuple[str, Any]]
        if least:  # its statements run in turn until the page is full (with a label: drafted ones, then the rest)
            statements = [(f"{page}, part {i + 1}", stmt) for page, after in (("first page", None), ("deep page", deep))
                          for i, stmt in enumerate(sample_rows.least_confident_statements(
                              pid, f, limit=101, after=after, how=how))]  # type: ignore[arg-type]
        else:
            statements = [("first page", sample_rows.page_statement(pid, f, limit=101, how=how)),
                          ("deep page", sample_rows.page_statement(pid, f, limit=101, after=deep, how=how))]  # type: ignore

        if sample_rows.from_counters(s, pid, f) is None:
            statements.append(("totalCount", sample_rows.count_statement(pid, f)))
        for what, stmt in statements:
            sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")))
            out.append((what, plan))
    return out


def _labelling(http: httpx.Client, pid: str) -> list[Figure]:
    """The labelling loop at this size: claim the next image, save 3 boxes on it (LOOP times, one after the other),
    then the project's stats (what the dashboard asks). Each run labels LOOP more of the kept database's images."""
    claims, saves = [], []
    for _ in range(LOOP):
        t0 = time.perf_counter()
        sample = gql(http, CLAIM, p=pid)["claimNextSample"]
        t1 = time.perf_counter()
        gql(http, SAVE, s=sample["id"], a=BOXES, v=sample["version"])
        claims.append((t1 - t0) * 1000)
        saves.append((time.perf_counter() - t1) * 1000)
    stats = _timed(REPEATS, functools.partial(gql, http, STATS, p=pid))
    return [Figure(f"labelling at {SIZE} samples (PostgreSQL): claimNextSample, p50", percentile(claims, 50), "ms", 0,
                   higher_is_better=True),
            Figure("... claimNextSample, p99 (reported)", percentile(claims, 99), "ms", 0, higher_is_better=True),
            Figure("... saveAnnotations (3 boxes) on the claimed image, p50", percentile(saves, 50), "ms", 5),
            Figure("... saveAnnotations, p99", percentile(saves, 99), "ms", 20),
            Figure("... projectStats (the dashboard's totals, per labeller, per class), p50 (reported)",
                   percentile(stats, 50), "ms", 0, higher_is_better=True)]


def _seq_scanned(plan: str) -> list[str]:
    return re.findall(r"Seq Scan on (\w+)", plan)


def run() -> list[Figure]:
    if not _exists(DB_NAME):
        print(f"building {DB_NAME} (once) ...", flush=True)
        asyncio.run(_build(DB_NAME, N))
    upgrade(_url(DB_NAME))
    asyncio.run(_mix(_url(DB_NAME)))
    env = {"DATABASE_URL": _url(DB_NAME), "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/bench/big/images={WORK / 'images'}", "RUN_JOBS": "false"}
    figures: list[Figure] = []
    report = [f"# Gallery filters at {N:,} samples on PostgreSQL: EXPLAIN ANALYZE\n",
              "Written by `python -m bench gallery_filters` (bench/gallery_filters.py). Each request is the "
              "client's gallery query (100 samples with their labels counted, `labelCounts`; the first page with "
              "`totalEstimate`, "
              "followed by `totalCount` when that is an estimate); the deep page starts 90% of the way through "
              "the ids (or, least confident first, past the drafts' confidences). SQL times are EXPLAIN ANALYZE's "
              "execution times, taken right after the HTTP figures.\n"]
    db = Database(_url(DB_NAME))
    with live_server(env) as base, httpx.Client(base_url=base, timeout=60) as http:
        pid = gql(http, "{ projects { id } }")["projects"][0]["id"]
        for name, variables, f, least in CASES:
            deep = _deep_after(variables, least)
            ask = functools.partial(gql, http, GALLERY, id=pid, first=100, **variables)
            first_ms = _timed(REPEATS, functools.partial(ask, after=None))
            deep_ms = _timed(REPEATS, functools.partial(ask, after=deep, withTotal=False))
            estimate = ask(after=None)["project"]["samples"]["totalEstimate"]
            counted = {k: v for k, v in variables.items() if k != "order"}
            exact_ms = [] if estimate["exact"] else _timed(COUNT_REPEATS, functools.partial(
                gql, http, COUNT, id=pid, **counted))
            total = gql(http, COUNT, id=pid, **counted)["project"]["samples"]["totalCount"]
            p50, deep50 = percentile(first_ms, 50), percentile(deep_ms, 50)
            figures.append(Figure(f"gallery, {SIZE} samples (PostgreSQL), {name}: first page + total, p50", p50, "ms",
                                  PAGE_TARGET_MS))
            figures.append(Figure(f"... a deep keyset page, p50 (reported; {total:,} match)", deep50, "ms", 0,
                                  higher_is_better=True))
            if exact_ms:
                figures.append(Figure(f"... its exact totalCount asked after an estimate of {estimate['count']:,}, p50 "
                                      "(reported)", percentile(exact_ms, 50), "ms", 0, higher_is_better=True))
            deep_key = (float(deep.split(":")[1]), int(deep.split(":")[2])) if least else int(deep)
            plans = _explain(db, int(pid), f, least, deep_key)
            seq = sorted({t for _, plan in plans for t in _seq_scanned(plan)})
            total_note = (f"total exact at once ({estimate['count']:,}, from the counters)" if estimate["exact"] else
                          f"estimate {estimate['count']:,}, exact totalCount p50 {percentile(exact_ms, 50):.1f} ms")
            report.append(f"## {name}\n\n{total:,} samples match. HTTP p50: first page + total "
                          f"{p50:.1f} ms (max {max(first_ms):.1f}), deep page {deep50:.1f} ms; {total_note}. "
                          f"SQL: {', '.join(f'{what} {_ms(plan)} ms' for what, plan in plans)}. "
                          f"Sequential scans: {', '.join(seq) if seq else 'none'}.\n")
            for what, plan in plans:
                report.append(f"### {what}\n\n```\n{plan}\n```\n")
        figures += _labelling(http, pid)
    asyncio.run(db.dispose())
    PLANS.parent.mkdir(parents=True, exist_ok=True)
    PLANS.write_text("\n".join(report))
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
