"""Samples: bulk insert from scans, keyset-paginated filtered pages, counts, and their annotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Select,
    Text,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db import counters, history_items
from db.engine import dialect_of, emit
from db.errors import Invalid, NotFound
from db.geometry import GeometryFilter
from db.geometry import conditions as geometry_conditions
from db.models import CONFIDENCE_KEY, Annotation, AnnotationEvent, DraftedLabel, Sample
from db.stats import STATUSES

MAX_PAGE = 500


@dataclass(frozen=True)
class SampleFilter:
    status: str | None = None
    label: str | None = None
    filename: str | None = None
    labeled_by: str | None = None
    max_confidence: float | None = None  # samples whose least confident model draft is at most this
    review_status: str | None = None  # NONE | ACCEPTED | REJECTED (db.reviews)
    labeled_after: datetime | None = None  # inclusive
    labeled_before: datetime | None = None  # exclusive
    not_labeled_by: str | None = None  # a reviewer's queue leaves out what they labelled themselves
    geometry: GeometryFilter | None = None  # quality filters on box geometry (db.geometry)
    duplicates_of: int | None = None  # a sample and its near-duplicate group (db.duplicates)
    has_duplicates: bool | None = None  # samples in a near-duplicate group (True) or in none (False)
    split: str | None = None  # TRAIN | VALIDATION | TEST (db.splits)


def find_sample(session: Session, sample_id: int) -> Sample | None:
    return session.get(Sample, sample_id)


def get_sample(session: Session, sample_id: int, *, for_update: bool = False) -> Sample:
    stmt = select(Sample).where(Sample.id == sample_id)
    if for_update and dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update()
    sample = session.scalar(stmt)
    if sample is None:
        raise NotFound(f"Sample {sample_id} does not exist.")
    return sample


def get_samples(session: Session, ids: Sequence[int]) -> dict[int, Sample]:
    rows = session.scalars(select(Sample).where(Sample.id.in_(ids)))
    return {s.id: s for s in rows}


def insert_new(session: Session, project_id: int, files: Sequence[tuple[str, str]]) -> int:
    """Insert (path, filename) pairs not yet in the project (a pair listed twice is one sample); returns how many
    were new. One statement takes them all, as arrays (PostgreSQL) or a JSON list (SQLite): a statement per row
    cost scans of millions of files 100 us a file on PostgreSQL, and 60 us for each file already known."""
    if not files:
        return 0
    table = Sample.__table__
    if dialect_of(session) == "postgresql":
        listed = func.unnest(bindparam("paths", type_=ARRAY(Text)), bindparam("names", type_=ARRAY(Text))
                             ).table_valued("path", "filename").render_derived(name="f")
        rows = select(literal(project_id), listed.c.path, listed.c.filename)
        values: dict[str, Any] = {"paths": [p for p, _ in files], "names": [f for _, f in files]}
        insert: Any = pg_insert
    else:
        pair = func.json_each(bindparam("pairs", type_=Text)).table_valued("value").c.value
        # WHERE: SQLite reads ON CONFLICT after a bare SELECT as the SELECT's join clause
        rows = select(literal(project_id), func.json_extract(pair, "$[0]"), func.json_extract(pair, "$[1]")
                      ).where(true())
        values, insert = {"pairs": orjson.dumps(list(files)).decode()}, sqlite_insert
    stmt = insert(table).from_select(["project_id", "path", "filename"], rows).on_conflict_do_nothing(
        index_elements=[table.c.project_id, table.c.path]).returning(table.c.id)
    added = len(session.execute(stmt, values).all())
    counters.bump(session, project_id, {(counters.STATUS, "UNLABELED"): added})
    if added:
        emit(session, f"project:{project_id}")
    return added


@dataclass(frozen=True)
class Driving:
    """How a page's statement reaches its samples, chosen from the project's counters by `driving` (the default
    leaves the choice to the database's planner, as every count and position does).

    label_first: the label is rare (RARE_LABEL, RARE_SHARE): its few sample ids are read from the label's index
    first and only those samples are looked at, instead of walking the project's samples in id order until a page
    of them also passes the other filters (339 ms at 10,000,000 samples for a rare label and a filename part). On
    PostgreSQL the ids go in as one array (`id = ANY(ARRAY(...))`), which the planner cannot turn back into that
    walk."""

    label_first: bool = False
    postgres: bool = False


# At most this many samples, and at most a thousandth of the project's: read the label's ids first. Each id is a
# probe of the samples' index (about 1.6 us); a walk in id order merges with another filter's index when it has one
# (label cat + labeller user1 at a million samples: 3.5 ms walked, 14 ms with cat's 8,808 ids read first).
RARE_LABEL = 10_000
RARE_SHARE = 1_000


def driving(session: Session, project_id: int, f: SampleFilter) -> Driving:
    """The way to the label filter's samples, from the counters (one indexed read; none without a label)."""
    if f.label is None:
        return Driving()
    c = counters.read(session, [project_id])[project_id]
    with_label = c.get(counters.SAMPLE_CLASS, {}).get(f.label, 0)
    total = sum(c.get(counters.STATUS, {}).values())
    rare = with_label <= RARE_LABEL and with_label * RARE_SHARE <= total
    return Driving(label_first=rare, postgres=dialect_of(session) == "postgresql")


def _filtered(project_id: int, f: SampleFilter, *, after: int | None = None, before: int | None = None,  # type: ignore[no-untyped-def]
              how: Driving = Driving()):
    """The WHERE of the matching samples. after/before: a keyset page's id bounds, repeated inside the label's and
    the geometry filters' EXISTS, because PostgreSQL does not carry a range through the join: without them a deep
    page walks the label's index from its start, or joins every box of the project. how: see Driving."""
    if f.status is not None and f.status not in STATUSES:
        raise Invalid(f"Unknown status {f.status!r}.")
    cond = [Sample.project_id == project_id]
    if f.status is not None:
        cond.append(Sample.status == f.status)
    if f.labeled_by is not None:
        cond.append(Sample.labeled_by == f.labeled_by)
    if f.not_labeled_by is not None:
        cond.append(or_(Sample.labeled_by.is_(None), Sample.labeled_by != f.not_labeled_by))
    if f.max_confidence is not None:
        # on the ordering key (NULL is 2.0), so ix_samples_project_confidence serves the range
        cond += [CONFIDENCE_KEY <= f.max_confidence, Sample.min_confidence.is_not(None)]  # noqa: SIM300
    if f.review_status is not None:
        if f.review_status not in ("NONE", "ACCEPTED", "REJECTED"):
            raise Invalid(f"Unknown review status {f.review_status!r}.")
        cond.append(Sample.review_status == f.review_status)
    if f.labeled_after is not None:
        cond.append(Sample.labeled_at >= f.labeled_after)
    if f.labeled_before is not None:
        cond.append(Sample.labeled_at < f.labeled_before)
    if f.filename:
        needle = f.filename.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(func.lower(Sample.filename).like(f"%{needle}%", escape="\\"))
    if f.label is not None:
        # "= false", not "IS false": only an operator lets ix_annotations_project_label's is_draft column serve
        of_label = [Annotation.project_id == project_id, Annotation.label == f.label, Annotation.is_draft == false()]
        if after is not None:
            of_label.append(Annotation.sample_id > after)
        if before is not None:
            of_label.append(Annotation.sample_id < before)
        if not how.label_first:
            cond.append(exists().where(Annotation.sample_id == Sample.id, *of_label))
        elif how.postgres:
            ids = select(Annotation.sample_id).where(*of_label).scalar_subquery()
            cond.append(Sample.id == any_(func.array(ids)))  # ARRAY(subquery): evaluated once, before the scan
        else:
            cond.append(Sample.id.in_(select(Annotation.sample_id).where(*of_label)))
    if f.geometry is not None:
        cond.extend(geometry_conditions(f.geometry, after=after, before=before))
    if f.has_duplicates is not None:
        cond.append(Sample.duplicate_group.is_not(None) if f.has_duplicates else Sample.duplicate_group.is_(None))
    if f.duplicates_of is not None:
        group = select(Sample.duplicate_group).where(Sample.id == f.duplicates_of,
                                                     Sample.project_id == project_id).scalar_subquery()
        cond.append(or_(Sample.id == f.duplicates_of, Sample.duplicate_group == group))
    if f.split is not None:
        cond.append(Sample.split == f.split)
    return and_(*cond)


def page_statement(project_id: int, f: SampleFilter, *, limit: int, after: int | None = None,
                   before: int | None = None, how: Driving = Driving()) -> Select[Sample]:
    """The SELECT of one keyset page in id order (descending with `before`), `limit` rows at most."""
    stmt = select(Sample).where(_filtered(project_id, f, after=after, before=before, how=how))
    if after is not None:
        stmt = stmt.where(Sample.id > after)
    if before is not None:
        return stmt.where(Sample.id < before).order_by(Sample.id.desc()).limit(limit)
    return stmt.order_by(Sample.id).limit(limit)


def page(
    session: Session, project_id: int, f: SampleFilter, *, first: int, after: int | None, before: int | None = None
) -> tuple[list[Sample], bool]:
    """One keyset page ordered by id, and whether another follows in the direction of travel.

    With `before`, the page is the `first` samples just before that id (still returned in id order)."""
    if first < 0:
        raise Invalid("first must be zero or more.")
    first = min(first, MAX_PAGE)
    how = driving(session, project_id, f)
    rows = list(session.scalars(page_statement(project_id, f, limit=first + 1, after=after, before=before, how=how)))
    if before is not None:
        return rows[:first][::-1], len(rows) > first
    return rows[:first], len(rows) > first


NO_CONFIDENCE = 2.0  # sorts samples without model drafts after every real confidence (0..1)


def least_confident_statements(project_id: int, f: SampleFilter, *, limit: int, after: tuple[float, int] | None = None,
                               how: Driving = Driving()) -> list[Select[Sample]]:
    """The SELECTs of one keyset page ordered by the least confident draft (no drafts last), then id, each of
    `limit` rows at most: run in turn, their rows in that order, until the page is full.

    With a label there are two: the label's drafted samples from drafted_labels, whose index holds them in
    confidence order, then its other samples in id order (they all sort as NO_CONFIDENCE). Walking the confidence
    order instead probed every drafted sample for the label (13 s at 10,000,000 samples when few carry it)."""
    if f.label is None:
        key = CONFIDENCE_KEY
        stmt = select(Sample).where(_filtered(project_id, f, how=how))
        if after is not None:  # a row comparison: the index (project_id, key, id) seeks straight to it
            stmt = stmt.where(tuple_(key, Sample.id) > tuple_(literal(after[0]), literal(after[1])))
        return [stmt.order_by(key, Sample.id).limit(limit)]
    if after is not None and after[0] > NO_CONFIDENCE:
        return []
    statements = []
    if after is None or after[0] < NO_CONFIDENCE:
        d = DraftedLabel
        drafted = (select(Sample).join(d, d.sample_id == Sample.id)
                   .where(d.project_id == project_id, d.label == f.label, _filtered(project_id, replace(f, label=None)))
                   .order_by(d.confidence, d.sample_id).limit(limit))
        if after is not None:
            drafted = drafted.where(tuple_(d.confidence, d.sample_id) > tuple_(literal(after[0]), literal(after[1])))
        statements.append(drafted)
    after_id = after[1] if after is not None and after[0] == NO_CONFIDENCE else None
    statements.append(page_statement(project_id, f, limit=limit, after=after_id, how=how).where(
        Sample.min_confidence.is_(None)))
    return statements


def page_least_confident(
    session: Session, project_id: int, f: SampleFilter, *, first: int, after: tuple[float, int] | None,
) -> tuple[list[Sample], bool]:
    """One keyset page ordered by the sample's least confident draft (no drafts last), then id."""
    if first < 0:
        raise Invalid("first must be zero or more.")
    first = min(first, MAX_PAGE)
    rows = least_confident_rows(session, project_id, f, limit=first + 1, after=after,
                                how=driving(session, project_id, f))
    return rows[:first], len(rows) > first


def least_confident_rows(session: Session, project_id: int, f: SampleFilter, *, limit: int,
                         after: tuple[float, int] | None, how: Driving) -> list[Sample]:
    """Up to `limit` samples after the cursor, least confident first: least_confident_statements run in turn."""
    rows: list[Sample] = []
    for stmt in least_confident_statements(project_id, f, limit=limit, after=after, how=how):
        rows += session.scalars(stmt.limit(limit - len(rows)))
        if len(rows) >= limit:
            break
    return rows


def position(session: Session, project_id: int, f: SampleFilter, sample_id: int) -> int:
    """1-based place of the sample among the matching samples in id order (0 if it does not match)."""
    matches = session.scalar(select(func.count()).select_from(Sample).where(
        _filtered(project_id, f), Sample.id == sample_id))
    if not matches:
        return 0
    return session.scalar(select(func.count()).select_from(Sample).where(
        _filtered(project_id, f), Sample.id <= sample_id)) or 0


def at_position(session: Session, project_id: int, f: SampleFilter, n: int) -> Sample | None:
    """The n-th (1-based) matching sample in id order, or None past the end."""
    if n < 1:
        return None
    return session.scalars(select(Sample).where(_filtered(project_id, f)).order_by(Sample.id).offset(n - 1)
                           .limit(1)).first()


def page_with_annotations(
    session: Session, project_id: int, f: SampleFilter, *, first: int, after: int | tuple[float, int] | None,
    annotations: str | None, before: int | None = None, least_confident: bool = False,
) -> tuple[list[Sample], bool, dict[int, list[Any]]]:
    """A page and, when asked for, its samples' annotations: one unit of work for the gallery. annotations: "rows"
    (Annotation objects), "labels" (only each one's label, kind and is_draft, as plain rows) or None."""
    if least_confident:
        rows, has_next = page_least_confident(session, project_id, f, first=first, after=after)  # type: ignore
    else:
        rows, has_next = page(session, project_id, f, first=first, after=after, before=before)  # type: ignore
    ids = [r.id for r in rows]
    if annotations == "rows":
        return rows, has_next, annotations_for(session, ids)
    return rows, has_next, labels_for(session, ids) if annotations == "labels" else {}


def count_statement(project_id: int, f: SampleFilter) -> Select[int]:
    """The SELECT counting the matching samples (count() reads the counters instead when it can)."""
    return select(func.count()).select_from(Sample).where(_filtered(project_id, f))


def from_counters(session: Session, project_id: int, f: SampleFilter) -> int | None:
    """The total read from the counters when they keep this filter (status, label, labeller, review and the pairs
    of status, labeller and review); None when the rows must be counted. Relies on the label writer's rule that a
    labeller and a review belong to LABELED samples only (db.labels.plan_change, db.reviews)."""
    given = {name for name in ("status", "label", "filename", "labeled_by", "max_confidence", "review_status",
                               "labeled_after", "labeled_before", "not_labeled_by", "duplicates_of",
                               "has_duplicates", "split")
             if getattr(f, name) not in (None, "")}
    if f.geometry is not None and not f.geometry.empty:
        given.add("geometry")
    if not given <= {"status", "labeled_by", "review_status"} and given != {"label"}:
        return None
    if f.status is not None and f.status not in STATUSES:
        raise Invalid(f"Unknown status {f.status!r}.")
    if f.review_status not in (None, "NONE", "ACCEPTED", "REJECTED"):
        raise Invalid(f"Unknown review status {f.review_status!r}.")
    c = counters.read(session, [project_id])[project_id]
    if given == {"label"}:
        return c.get(counters.SAMPLE_CLASS, {}).get(f.label, 0)  # type: ignore[arg-type]
    by_status = c.get(counters.STATUS, {})
    if f.labeled_by is None and f.review_status is None:
        return by_status.get(f.status, 0) if f.status else sum(by_status.values())
    if f.status is not None and f.status != "LABELED":  # only a labelled sample has a labeller or a review
        return by_status.get(f.status, 0) if f.labeled_by is None and f.review_status == "NONE" else 0

    def labelled(kind: str) -> int:
        per_user = c.get(kind, {})
        return per_user.get(f.labeled_by, 0) if f.labeled_by is not None else sum(per_user.values())

    if f.review_status is None:
        return labelled(counters.LABELED_BY)
    if f.review_status == "ACCEPTED":
        return labelled(counters.ACCEPTED_BY)
    if f.review_status == "REJECTED":
        return labelled(counters.REJECTED_BY)
    reviewed = labelled(counters.ACCEPTED_BY) + labelled(counters.REJECTED_BY)
    if f.labeled_by is None and f.status is None:
        return sum(by_status.values()) - reviewed
    return labelled(counters.LABELED_BY) - reviewed


def count(session: Session, project_id: int, f: SampleFilter) -> int:
    """How many samples match; read from the counters when they keep the filter, else counted."""
    known = from_counters(session, project_id, f)
    if known is not None:
        return known
    return session.scalar(count_statement(project_id, f)) or 0


def estimate(session: Session, project_id: int, f: SampleFilter) -> tuple[int, bool]:
    """(how many samples match, whether that is exact) at the cost of a few milliseconds: the counters' figure
    when they keep the filter; on PostgreSQL otherwise the planner's estimate (its statistics, nothing is
    counted); on SQLite the exact count."""
    known = from_counters(session, project_id, f)
    if known is not None:
        return known, True
    if dialect_of(session) != "postgresql":
        return count(session, project_id, f), True
    conn = session.connection()
    compiled = select(literal(1)).select_from(Sample).where(_filtered(project_id, f)).compile(conn)
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"]), False


def annotations_for(session: Session, sample_ids: Sequence[int]) -> dict[int, list[Annotation]]:
    rows = session.scalars(
        select(Annotation).where(Annotation.sample_id.in_(sample_ids)).order_by(Annotation.sample_id, Annotation.id)
    )
    out: dict[int, list[Annotation]] = {sid: [] for sid in sample_ids}
    for a in rows:
        out[a.sample_id].append(a)
    return out


def labels_for(session: Session, sample_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Each sample's annotations (oldest first) as rows of label, kind and is_draft: what a gallery tile counts,
    without building an object per box."""
    a = Annotation.__table__
    out: dict[int, list[Any]] = {sid: [] for sid in sample_ids}
    for row in session.execute(select(a.c.sample_id, a.c.label, a.c.kind, a.c.is_draft)
                               .where(a.c.sample_id.in_(sample_ids)).order_by(a.c.sample_id, a.c.id)):
        out[row.sample_id].append(row)
    return out


def history_for(session: Session, sample_ids: Sequence[int]) -> dict[int, list[AnnotationEvent]]:
    """Each sample's history, newest first, one event per annotation changed (db.history_items)."""
    rows = session.scalars(
        select(AnnotationEvent).where(AnnotationEvent.sample_id.in_(sample_ids))
        .order_by(AnnotationEvent.sample_id, AnnotationEvent.id.desc())
    )
    out: dict[int, list[AnnotationEvent]] = {sid: [] for sid in sample_ids}
    for e in rows:
        out[e.sample_id] += history_items.expanded(e)
    return out


def record_size(session: Session, sample_id: int, width: int, height: int) -> None:
    """Store the displayed size the first time an image is decoded (a no-op once known)."""
    record_sizes(session, {sample_id: (width, height)})


def record_sizes(session: Session, sizes: Mapping[int, tuple[int, int]]) -> None:
    """record_size for many samples in one statement (executemany)."""
    if sizes:
        t = Sample.__table__
        session.connection().execute(
            update(t).where(t.c.id == bindparam("s_id"), t.c.width.is_(None))
            .values(width=bindparam("s_w"), height=bindparam("s_h")),
            [{"s_id": k, "s_w": w, "s_h": h} for k, (w, h) in sizes.items()])


def ids_in_statuses(session: Session, project_id: int, statuses: Sequence[str], limit: int | None) -> list[int]:
    """Ids of the project's samples in these statuses whose file the last rescan found, lowest first, at most limit
    of them."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise Invalid(f"Unknown status {sorted(unknown)[0]!r}.")
    stmt = select(Sample.id).where(Sample.project_id == project_id, Sample.status.in_(list(statuses)),
                                   Sample.missing_since.is_(None)).order_by(Sample.id)
    if limit is not None:
        if limit < 1:
            raise Invalid("maxSamples must be 1 or more.")
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def draft_tally(session: Session, project_id: int, f: SampleFilter) -> tuple[int, int]:
    """(samples, drafts): how many matching samples carry model drafts, and how many drafts they carry."""
    row = session.execute(select(func.count(func.distinct(Annotation.sample_id)), func.count()).where(
        Annotation.project_id == project_id, Annotation.is_draft.is_(True),
        Annotation.sample_id.in_(select(Sample.id).where(_filtered(project_id, f))))).one()
    return int(row[0]), int(row[1])


def ids_with_drafts(session: Session, project_id: int, f: SampleFilter, *, after: int, limit: int) -> list[int]:
    """Ids above `after` of matching samples that carry model drafts, lowest first (a keyset batch)."""
    has_draft = exists().where(Annotation.sample_id == Sample.id, Annotation.project_id == project_id,
                               Annotation.is_draft.is_(True))
    return list(session.scalars(select(Sample.id).where(_filtered(project_id, f), Sample.id > after, has_draft)
                                .order_by(Sample.id).limit(limit)))


FEED_SAMPLE = select(Sample.id, Sample.filename, Sample.path, Sample.status, Sample.width, Sample.height,
                     Sample.version)
FEED_ANNOTATION = select(Annotation.sample_id, Annotation.id, Annotation.label, Annotation.kind, Annotation.x,
                         Annotation.y, Annotation.w, Annotation.h, Annotation.confidence, Annotation.is_draft,
                         Annotation.created_by)


def feed_batch(session: Session, project_id: int, f: SampleFilter, *, after: int, first: int
               ) -> tuple[Sequence[Any], dict[int, list[Any]]]:
    """The next `first` matching samples after id `after` as plain rows, and their annotations by sample id: two
    indexed statements (samples by (project, id) or a filter's index; annotations by the page's id range), no ORM
    objects."""
    rows = session.execute(FEED_SAMPLE.where(_filtered(project_id, f), Sample.id > after)
                           .order_by(Sample.id).limit(first)).all()
    by_sample: dict[int, list[Any]] = {}
    if rows:
        wanted = {r.id for r in rows}
        # By sample id range alone: with project_id too, SQLite chose the (project, label) index and read every
        # annotation of the project for each batch. Rows of other projects' samples in the range are dropped here.
        for a in session.execute(FEED_ANNOTATION.where(Annotation.sample_id.between(rows[0].id, rows[-1].id))
                                 .order_by(Annotation.sample_id, Annotation.id)):
            if a.sample_id in wanted:
                by_sample.setdefault(a.sample_id, []).append(a)
    return rows, by_sample
