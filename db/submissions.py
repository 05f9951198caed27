"""Consensus labelling: each labeller's own submission of an image, claims that hand an image to `overlap` different
people, the consensus that becomes the image's labels once they all submitted, and adjudication.

A submission never shows in the image's annotations (nobody sees the others' labels while labelling): the
annotations hold model drafts until the consensus replaces them, as one recorded change by the actor "consensus".
Each image's agreement (db.agreement) is stored with it and added to its project's totals in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db import agreement, agreement_rows, agreement_workers, gc_pause
from db import labels as label_rows
from db.agreement_batch import Stored
from db.engine import dialect_of, emit
from db.errors import Invalid, NotFound
from db.label_plans import check_version, validate
from db.models import (
    CONFIDENCE_KEY,
    AgreementTotal,
    Annotation,
    AnnotationEvent,
    Project,
    Sample,
    SampleAgreement,
    Submission,
    utcnow,
)
from db.overlap import ConsensusSettings
from db.records import AnnotationRecord
from db.samples import get_sample

CONSENSUS_ACTOR = "consensus"
WAITING = "waiting"  # the total that counts the images waiting for adjudication
NEEDS_WORK = label_rows.NEEDS_WORK
CANDIDATES = 50  # samples read per claim; those of them that need fewer labellers (fraction < 1) are passed over


def _items(records: Sequence[AnnotationRecord]) -> list[list[Any]]:
    return [[a.label, *a.box] if a.box else [a.label] for a in records]


def as_submission(user: str, items: Sequence[Sequence[Any]]) -> agreement.Submission:
    """Stored items (JSON numbers: floats already) as db.agreement reads them."""
    return agreement.Submission(user, tuple((i[0], tuple(i[1:5]) if len(i) == 5 else None)
                                            for i in items))


def as_annotations(row: Submission, kind: str) -> list[Annotation]:
    """A submission's items shaped as annotations (negative ids: they are not stored annotations)."""
    out = []
    for n, item in enumerate(row.items, start=1):
        box = item[1:5] if len(item) == 5 else [None] * 4
        out.append(Annotation(id=-n, project_id=row.project_id, sample_id=row.sample_id, label=item[0], kind=kind,
                              x=box[0], y=box[1], w=box[2], h=box[3], confidence=None, is_draft=False,
                              created_by=row.user, created_at=row.submitted_at))
    return out


# -- claims -------------------------------------------------------------------------------------------------------


def claim_next(session: Session, project: Project, user: str, *, lease_seconds: float,
               least_confident: bool = False) -> Sample | None:
    """Lease the next image that still needs labellers and that the caller has not labelled (their own lease first).
    An image is handed out while fewer than it needs have submitted it or hold a lease on it; on PostgreSQL the
    image's row is locked while it is counted, so two claims never pass its overlap together."""
    settings = ConsensusSettings.of(project.consensus)
    now = utcnow()
    lease = now + timedelta(seconds=lease_seconds)
    mine = (select(Sample).join(Submission, Submission.sample_id == Sample.id)
            .where(Sample.project_id == project.id, Submission.user == user, Submission.submitted_at.is_(None),
                   Submission.lease_expires_at > now, Sample.status.in_(NEEDS_WORK)).order_by(Sample.id).limit(1))
    sample = session.scalar(mine)
    if sample is not None:
        session.execute(Submission.__table__.update().where(Submission.sample_id == sample.id,
                                                            Submission.user == user).values(lease_expires_at=lease))
        return sample
    taken = (select(func.count()).where(Submission.sample_id == Sample.id,
                                        or_(Submission.submitted_at.is_not(None), Submission.lease_expires_at > now))
             .scalar_subquery())
    seen = exists().where(Submission.sample_id == Sample.id, Submission.user == user)
    for status in (NEEDS_WORK[::-1] if least_confident else NEEDS_WORK):
        order = (CONFIDENCE_KEY, Sample.id) if least_confident else (Sample.id,)
        stmt = (select(Sample, taken.label("taken"))
                .where(Sample.project_id == project.id, Sample.status == status, Sample.missing_since.is_(None),
                       ~seen, taken < settings.overlap).order_by(*order).limit(CANDIDATES))
        if dialect_of(session) == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Sample)
        for sample, count in session.execute(stmt):
            if count < settings.needed(project.id, sample.id):
                session.add(Submission(project_id=project.id, sample_id=sample.id, user=user, items=[],
                                       no_objects=False, version=0, lease_expires_at=lease))
                session.flush()
                return sample  # type: ignore[no-any-return]
    return None


# -- submitting ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    sample: Sample
    submission: Submission
    kind: str


def submit(session: Session, sample_id: int, records: Sequence[AnnotationRecord], user: str, *,
           allow_empty: bool, expected_version: int | None) -> Submitted:
    """Replace the caller's own submission of the image (no one else's). expectedVersion is the image's version as
    the caller loaded it: CONFLICT once its labels changed (a consensus formed, an adjudication). A submission
    that completes the image's overlap forms its consensus (update_agreement)."""
    if not records and not allow_empty:
        raise Invalid("An empty save needs allowEmpty: true (it records that the image has no objects).")
    sample = get_sample(session, sample_id, for_update=True)
    project = session.get(Project, sample.project_id)
    assert project is not None  # the foreign key
    check_version(sample, expected_version)
    clean = validate(project, [AnnotationRecord(a.label, a.kind, a.box) for a in records])
    if project.task_type == "CLASSIFICATION" and not project.multi_label and not clean:
        raise Invalid("Give exactly one label (this project is not multi-label).")
    kind = "CLASSIFICATION" if project.task_type == "CLASSIFICATION" else "BBOX"
    settings = ConsensusSettings.of(project.consensus)
    needed = settings.needed(project.id, sample.id)
    subs = list(session.scalars(select(Submission).where(Submission.sample_id == sample.id)))
    own = next((s for s in subs if s.user == user), None)
    items = _items(clean)
    if own is not None and own.submitted_at is not None and own.items == items:
        return Submitted(sample, own, kind)  # the same labels again: no change, no history
    done = [s for s in subs if s.submitted_at is not None and s.user != user]
    if own is None and len(done) >= needed:
        raise Invalid(f"{sample.filename} already has the {needed} labellers it needs; claim the next image.")
    now = utcnow()
    if own is None:
        own = Submission(project_id=project.id, sample_id=sample.id, user=user, version=0)
        session.add(own)
    own.items, own.no_objects, own.version = items, not items, own.version + 1
    own.submitted_at, own.lease_expires_at = now, None
    session.add(AnnotationEvent(project_id=project.id, sample_id=sample.id, action="submit", actor=user, at=now))
    session.flush()
    if len(done) + 1 >= needed:
        update_agreement(session, project, sample, [*done, own])
    emit(session, f"project:{project.id}")
    return Submitted(sample, own, kind)


def _model_submissions(session: Session, sample_id: int) -> list[agreement.Submission]:
    return [as_submission(author, items) for author, items in _model_items(session, sample_id)]


def _model_items(session: Session, sample_id: int) -> list[Stored]:
    """The image's model drafts as submissions, one per model, items as stored."""
    drafts = session.execute(select(Annotation.created_by, Annotation.label, Annotation.x, Annotation.y, Annotation.w,
                                    Annotation.h).where(Annotation.sample_id == sample_id,
                                                        Annotation.is_draft.is_(True)).order_by(Annotation.id))
    by_model: dict[str, list[list[Any]]] = {}
    for author, label, *box in drafts:
        by_model.setdefault(author, []).append([label, *box] if box[0] is not None else [label])
    return list(by_model.items())


def update_agreement(session: Session, project: Project, sample: Sample, subs: Sequence[Submission]) -> None:
    """Compute the image's agreement from its submissions (and its model drafts, when the owner counts models as
    labellers), move the project's totals by the difference, and unless a reviewer adjudicated it, store its
    consensus as its labels; below the agreement threshold (or without a majority) it waits for adjudication."""
    settings = ConsensusSettings.of(project.consensus)
    raters = [as_submission(s.user, s.items) for s in subs]
    if settings.models_as_labellers:
        raters += _model_submissions(session, sample.id)
    now = utcnow()
    result = agreement.image_agreement(project.task_type, raters, iou_threshold=settings.iou_threshold,
                                       multi_label=project.multi_label, day=now.date().isoformat())
    row = session.get(SampleAgreement, sample.id)
    old = dict(row.detail.get("sums", {})) if row is not None else {}
    deltas = dict(result.sums)
    for key, value in old.items():
        deltas[key] = deltas.get(key, 0.0) - value
    adjudicated = row is not None and row.state == "ADJUDICATED"
    state = ("ADJUDICATED" if adjudicated else
             "AGREED" if result.consensus is not None and result.score >= settings.agreement_threshold
             else "ADJUDICATE")
    deltas[WAITING] = deltas.get(WAITING, 0.0) + _waiting(state) - _waiting(row.state if row is not None else None)
    detail = {"pairs": [[a, b, s] for (a, b), s in result.pairs.items()], "vsConsensus": result.vs_consensus,
              "sums": result.sums}
    if row is None:
        session.add(SampleAgreement(sample_id=sample.id, project_id=project.id, score=result.score, state=state,
                                    raters=len(raters), detail=detail, updated_at=now))
    else:
        row.score, row.state, row.raters, row.detail, row.updated_at = (result.score, state, len(raters), detail,
                                                                        now)
    session.flush()
    bump_totals(session, project.id, deltas)
    if not adjudicated and result.consensus is not None:
        kind = "CLASSIFICATION" if project.task_type == "CLASSIFICATION" else "BBOX"
        label_rows.replace_labels(session, sample.id, [AnnotationRecord(label, kind, box)
                                                       for label, box in result.consensus],
                                  CONSENSUS_ACTOR, action="consensus")


def _waiting(state: str | None) -> int:
    return 1 if state == "ADJUDICATE" else 0


_TOTAL = AgreementTotal.__table__
_SQLITE_INSERT_TOTALS = sqlite_insert(_TOTAL)
_SQLITE_UPSERT_TOTALS = _SQLITE_INSERT_TOTALS.on_conflict_do_update(
    index_elements=[_TOTAL.c.project_id, _TOTAL.c.key],
    set_={"total": _TOTAL.c.total + _SQLITE_INSERT_TOTALS.excluded.total})
# PostgreSQL: one statement for every key (a save moves about thirty), in key order
_PG_UPSERT_TOTALS = """
INSERT INTO agreement_totals AS t (project_id, key, total)
SELECT %(project_id)s, d.key, d.total FROM unnest(%(keys)s::text[], %(totals)s::float8[]) AS d(key, total)
 ORDER BY d.key
ON CONFLICT (project_id, key) DO UPDATE SET total = t.total + excluded.total
"""


def bump_totals(session: Session, project_id: int, deltas: Mapping[str, float]) -> None:
    """Add each delta to its total (a fixed key order avoids deadlocks between writers)."""
    moved = [(k, v) for k, v in sorted(deltas.items()) if abs(v) > 1e-12]
    if not moved:
        return
    conn = session.connection()
    if dialect_of(session) == "postgresql":
        conn.exec_driver_sql(_PG_UPSERT_TOTALS, {"project_id": project_id, "keys": [k for k, _ in moved],
                                                 "totals": [float(v) for _, v in moved]})
    else:
        conn.execute(_SQLITE_UPSERT_TOTALS, [{"project_id": project_id, "key": k, "total": v} for k, v in moved])


def recompute_batch(session: Session, project_id: int, after: int, limit: int, *,
                    locked: Callable[[int], None] | None = None,
                    before_totals: Callable[[], None] | None = None,
                    workers: agreement_workers.Workers | None = None) -> tuple[int | None, int]:
    """Recompute the agreement of the project's next `limit` samples after id `after` (their rows locked on
    PostgreSQL, as a save locks its sample), moving the totals by the difference as a save does, and keeping each
    image's labels and its adjudication: after a change of thresholds, or to repair figures. Returns the last
    sample id read (None at the end) and how many images have an agreement. The batch is computed at once
    (db.agreement_batch), by `workers` when given (part in their process), else here.
    `locked(last id)` is called once the batch's samples are locked (the next batch may start then), and
    `before_totals()` just before the totals move (it may wait for the previous batch's commit, so that the totals
    add the batches' changes in their order; it raises to abandon the batch)."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    stmt = (select(Sample.id).where(Sample.project_id == project_id, Sample.id > after).order_by(Sample.id)
            .limit(limit))
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update()
    ids = list(session.scalars(stmt))
    if not ids:
        return None, 0
    if locked is not None:
        locked(ids[-1])
    with gc_pause.paused():
        done = _recompute(session, project, ids, before_totals,
                          workers.compute if workers is not None else agreement_workers.compute)
    emit(session, f"project:{project_id}")
    return ids[-1], done


def _recompute(session: Session, project: Project, ids: list[int], before_totals: Callable[[], None] | None,
               compute: Callable[[agreement_workers.Batch], agreement_workers.Computed]) -> int:
    """recompute_batch's work on its locked samples `ids` (consecutive in the project): how many it stored."""
    settings = ConsensusSettings.of(project.consensus)
    first, last = ids[0], ids[-1]
    batch = (select(Sample.id).where(Sample.project_id == project.id, Sample.id >= first, Sample.id <= last)
             .scalar_subquery())  # the same samples as `ids`, without 2,000 parameters
    conn = session.connection()
    subs: dict[int, list[agreement_workers.Raw]] = {}
    for sid, user, items in conn.execute(  # the items as stored, parsed where they are computed
            select(Submission.sample_id, Submission.user, cast(Submission.items, Text))
            .where(Submission.sample_id.between(first, last), Submission.sample_id.in_(batch),
                   Submission.submitted_at.is_not(None)).order_by(Submission.sample_id)).all():
        subs.setdefault(sid, []).append((user, items))
    rows = {r.sample_id: r for r in conn.execute(
        select(SampleAgreement.sample_id, SampleAgreement.state, SampleAgreement.updated_at, SampleAgreement.detail)
        .where(SampleAgreement.sample_id.between(first, last), SampleAgreement.sample_id.in_(batch))).all()}
    now = utcnow()
    today = now.date().isoformat()
    images, days, olds, found = [], [], [], []
    for sid, raters in subs.items():
        if len(raters) < max(2, settings.needed(project.id, sid)):
            continue
        if settings.models_as_labellers:
            raters += _model_items(session, sid)
        row = rows.get(sid)
        images.append(raters)
        days.append(row.updated_at.date().isoformat() if row is not None else today)
        olds.append(row.detail.get("sums", {}) if row is not None else None)
        found.append((sid, row))
    result = compute(agreement_workers.Batch(project.task_type, images, days, olds,
                                     settings.iou_threshold, project.multi_label))
    deltas = result.deltas
    inserts: list[agreement_rows.Row] = []
    updates: list[agreement_rows.Row] = []
    waiting = 0
    for n, (sid, row) in enumerate(found):
        score = result.scores[n]
        state = "AGREED" if result.agreed[n] and score >= settings.agreement_threshold else "ADJUDICATE"
        if row is not None and row.state == "ADJUDICATED":
            state = "ADJUDICATED"
        (inserts if row is None else updates).append((sid, score, state, len(images[n]), result.details[n]))
        waiting += _waiting(state) - _waiting(row.state if row is not None else None)
    if found:
        deltas[WAITING] = deltas.get(WAITING, 0.0) + waiting
    agreement_rows.write(session, project.id, now, inserts, updates)
    if before_totals is not None:
        before_totals()
    bump_totals(session, project.id, deltas)
    return len(inserts) + len(updates)


# -- adjudication -------------------------------------------------------------------------------------------------


def submissions_of(session: Session, sample_id: int) -> list[Submission]:
    """The image's submitted labels, one per labeller, by name (claims without a submission left out)."""
    return list(session.scalars(select(Submission).where(Submission.sample_id == sample_id,
                                                         Submission.submitted_at.is_not(None))
                                .order_by(Submission.user)))


def _task_of(session: Session, sample_id: int) -> str:
    return session.scalar(select(Project.task_type).join(Sample, Sample.project_id == Project.id)
                          .where(Sample.id == sample_id)) or "DETECTION"


def own_submissions(session: Session, user: str, sample_ids: Sequence[int]) -> dict[int, tuple[Submission, str]]:
    """The user's submitted labels of these images, with their project's task, by sample id (one query)."""
    rows = session.execute(select(Submission, Project.task_type).join(Project, Project.id == Submission.project_id)
                           .where(Submission.sample_id.in_(sample_ids), Submission.user == user,
                                  Submission.submitted_at.is_not(None)))
    return {row.sample_id: (row, task) for row, task in rows}


def submissions_with_task(session: Session, sample_id: int) -> tuple[list[Submission], str]:
    return submissions_of(session, sample_id), _task_of(session, sample_id)


def find_agreement(session: Session, sample_id: int) -> SampleAgreement | None:
    return session.get(SampleAgreement, sample_id)


def adjudicate(session: Session, sample_id: int, user: str, *, records: Sequence[AnnotationRecord] | None,
               pick: str | None, expected_version: int | None) -> Sample:
    """A reviewer's decision on an image with submissions: one labeller's submission (`pick`) or the labels they
    edited (`records`) become its labels, recorded in its history as an adjudication; the image leaves the queue and
    later submissions no longer change its labels."""
    sample = get_sample(session, sample_id, for_update=True)
    check_version(sample, expected_version)
    subs = submissions_of(session, sample_id)
    if not subs:
        raise Invalid(f"{sample.filename} has no submissions to adjudicate.")
    if (records is None) == (pick is None):
        raise Invalid("Give either pick (a labeller whose submission wins) or annotations (the final labels).")
    project = session.get(Project, sample.project_id)
    assert project is not None
    kind = "CLASSIFICATION" if project.task_type == "CLASSIFICATION" else "BBOX"
    if pick is not None:
        chosen = next((s for s in subs if s.user == pick), None)
        if chosen is None:
            raise Invalid(f"{pick!r} did not submit labels for {sample.filename}.", field="pick")
        records = [AnnotationRecord(str(i[0]), kind, tuple(i[1:5]) if len(i) == 5 else None)
                   for i in chosen.items]
    row = session.get(SampleAgreement, sample_id)
    if row is None:
        row = SampleAgreement(sample_id=sample_id, project_id=project.id, score=0.0, raters=len(subs),
                              detail={"pairs": [], "vsConsensus": {}, "sums": {}}, state="ADJUDICATED")
        session.add(row)
    bump_totals(session, project.id, {WAITING: -_waiting(row.state)})
    row.state, row.updated_at = "ADJUDICATED", utcnow()
    session.flush()
    label_rows.replace_labels(session, sample_id, records or [], user, action="adjudicate", changed_anyway=True)
    session.refresh(sample)
    return sample


@dataclass(frozen=True)
class QueueEntry:
    sample: Sample
    score: float
    raters: int


def adjudication_queue(session: Session, project_id: int, first: int, after: tuple[float, int] | None
                       ) -> list[QueueEntry]:
    """Images waiting for adjudication, the least agreed first (keyset on score, sample id)."""
    stmt = (select(Sample, SampleAgreement.score, SampleAgreement.raters)
            .join(SampleAgreement, SampleAgreement.sample_id == Sample.id)
            .where(SampleAgreement.project_id == project_id, SampleAgreement.state == "ADJUDICATE"))
    if after is not None:
        score, sid = after
        stmt = stmt.where(or_(SampleAgreement.score > score,
                              and_(SampleAgreement.score == score, SampleAgreement.sample_id > sid)))
    rows = session.execute(stmt.order_by(SampleAgreement.score, SampleAgreement.sample_id).limit(first))
    return [QueueEntry(s, score, raters) for s, score, raters in rows]


def queue_length(session: Session, project_id: int) -> int:
    """Images waiting for adjudication: one total, kept with the states (no count over the queue)."""
    found = session.scalar(select(AgreementTotal.total).where(AgreementTotal.project_id == project_id,
                                                              AgreementTotal.key == WAITING))
    return round(found or 0)


def totals(session: Session, project_id: int) -> dict[str, float]:
    rows = session.execute(select(AgreementTotal.key, AgreementTotal.total)
                           .where(AgreementTotal.project_id == project_id))
    return {key: total for key, total in rows}
