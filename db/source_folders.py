"""A project's image folder over time: marking the samples whose file a rescan no longer finds as missing (never
deleting them, nor their labels), purging them on an owner's confirmed count, and moving the project to another
folder (samples whose relative path exists there are kept, the rest dropped with their labels)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import String, cast, delete, func, literal, select, update
from sqlalchemy.orm import Session

from db import counters
from db import jobs as job_rows
from db import samples as sample_rows
from db.engine import dialect_of, emit
from db.errors import Conflict, Invalid
from db.models import Annotation, AnnotationEvent, Job, Project, Sample, utcnow
from db.path_digests import KnownPaths, PathDigests
from db.projects import get_project

CHUNK = 1000  # ids per statement: well under SQLite's bound-parameter limit
READ_CHUNK = 50_000  # samples a rescan compares with what it found at once


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


# -- missing files (rescan) -------------------------------------------------------------------------------------


def last_sample_id(session: Session, project_id: int) -> int:
    """The project's newest sample id (0 when it has none): a rescan compares only the samples up to it."""
    return session.scalar(select(func.max(Sample.id)).where(Sample.project_id == project_id)) or 0


def compare_found(session: Session, project_id: int, found: PathDigests, up_to_id: int
                  ) -> tuple[list[int], list[int]]:
    """Of the samples up to up_to_id (those there when the rescan began), the ones whose file it did not find and
    that are not marked missing yet (vanished), and the missing ones it found again (back). The project's paths are
    read a chunk at a time, never all held at once."""
    vanished: list[int] = []
    back: list[int] = []
    if not up_to_id:
        return vanished, back
    rows = session.execute(select(Sample.path, Sample.id, Sample.missing_since.is_not(None))
                           .where(Sample.project_id == project_id, Sample.id <= up_to_id)
                           .execution_options(yield_per=READ_CHUNK))
    for chunk in rows.partitions():
        paths, ids, missing = zip(*chunk, strict=True)
        seen = found.contains(paths).tolist()
        vanished += [sid for sid, hit, was in zip(ids, seen, missing, strict=True) if not hit and not was]
        back += [sid for sid, hit, was in zip(ids, seen, missing, strict=True) if hit and was]
    return vanished, back


def known_paths(session: Session, project_id: int, up_to_id: int) -> KnownPaths:
    """The samples up to up_to_id (those there when a rescan begins), read a chunk at a time into digests."""
    count, first = session.execute(select(func.count(), func.min(Sample.id)).where(
        Sample.project_id == project_id, Sample.id <= up_to_id)).one()
    known = KnownPaths(count, first or 0, up_to_id)
    rows = session.execute(select(Sample.path, Sample.id, Sample.missing_since.is_not(None))
                           .where(Sample.project_id == project_id, Sample.id <= up_to_id)
                           .execution_options(yield_per=READ_CHUNK))
    for chunk in rows.partitions():
        paths, ids, missing = zip(*chunk, strict=True)
        known.add(paths, ids, missing)
    return known


def mark_missing(session: Session, project_id: int, vanished: Sequence[int], back: Sequence[int]) -> None:
    """vanished: samples whose file is gone (marked now); back: missing ones found again (unmarked)."""
    now = utcnow()
    for chunk in _chunks(vanished):
        session.execute(update(Sample).where(Sample.id.in_(chunk), Sample.missing_since.is_(None))
                        .values(missing_since=now).execution_options(synchronize_session=False))
    for chunk in _chunks(back):
        session.execute(update(Sample).where(Sample.id.in_(chunk)).values(missing_since=None)
                        .execution_options(synchronize_session=False))
    if vanished or back:
        emit(session, f"project:{project_id}")


@dataclass(frozen=True)
class MissingTally:
    samples: int
    labelled: int  # of them, samples with labels (LABELED)
    annotations: int  # labels and boxes on them (model drafts too)


def missing_tally(session: Session, project_id: int) -> MissingTally:
    get_project(session, project_id)
    missing = (Sample.project_id == project_id, Sample.missing_since.is_not(None))
    samples, labelled = session.execute(select(func.count(), func.count().filter(Sample.status == "LABELED"))
                                        .where(*missing)).one()
    annotations = session.scalar(select(func.count()).select_from(Annotation).where(
        Annotation.project_id == project_id, Annotation.sample_id.in_(select(Sample.id).where(*missing)))) or 0
    return MissingTally(int(samples), int(labelled), int(annotations))


def _delete_samples(session: Session, ids: Sequence[int]) -> None:
    """The samples with their labels and history (set-based; the caller recounts the project)."""
    for chunk in _chunks(ids):
        session.execute(delete(AnnotationEvent).where(AnnotationEvent.sample_id.in_(chunk)))
        session.execute(delete(Annotation).where(Annotation.sample_id.in_(chunk)))
        session.execute(delete(Sample).where(Sample.id.in_(chunk)))


def purge_missing(session: Session, project_id: int, expected: int) -> int:
    """Delete the samples marked missing, with their labels, when as many are missing as the owner confirmed
    (CONFLICT otherwise: a rescan changed it meanwhile); returns how many were deleted."""
    tally = missing_tally(session, project_id)
    if tally.samples != expected:
        raise Conflict(f"{tally.samples:,} images are missing now, not the {expected:,} confirmed: look at the count "
                       "again and confirm it.")
    ids = list(session.scalars(select(Sample.id).where(Sample.project_id == project_id,
                                                       Sample.missing_since.is_not(None))))
    _delete_samples(session, ids)
    counters.recount(session, project_id)
    emit(session, f"project:{project_id}")
    return len(ids)


# -- another source folder --------------------------------------------------------------------------------------


def queue_source_change(session: Session, project_id: int, folder: str, *, dry_run: bool,
                        expected_dropped: int | None, created_by: str) -> Job:
    """A SOURCE_CHANGE job (jobs/source_change.py); a real change needs the dry run's count of dropped samples."""
    project = get_project(session, project_id)
    if project.source_table is not None:
        raise Invalid(f"{project.name!r} lists its images from table {project.source_table['table']}: its image "
                      "folder stays where the table's paths are. Use Sync from table instead.")
    if folder == project.source_volume:
        raise Invalid(f"{folder} is already the project's image folder: use Rescan folder to look for changes.")
    if not dry_run and expected_dropped is None:
        raise Invalid("Changing the folder needs expectedDropped: the number of samples the dry run said would be "
                      "dropped, as the owner confirmed it.")
    for kind in ("SCAN", "SOURCE_CHANGE"):
        if job_rows.has_active_job(session, project_id, kind):
            raise Conflict(f"A {kind.lower().replace('_', ' ')} of {project.name!r} is already queued or running.")
    return job_rows.create_job(session, kind="SOURCE_CHANGE", project_id=project_id, created_by=created_by,
                               params={"sourceVolume": folder, "dryRun": dry_run, "expectedDropped": expected_dropped})


@dataclass(frozen=True)
class SourcePlan:
    kept: int  # samples whose relative path exists in the new folder
    dropped: int  # samples whose relative path does not: deleted with their labels
    labelled_dropped: int
    annotations_dropped: int
    new_images: int  # files of the new folder no sample has: added as new samples

    def as_result(self) -> dict[str, int]:
        return {"kept": self.kept, "dropped": self.dropped, "labelledDropped": self.labelled_dropped,
                "annotationsDropped": self.annotations_dropped, "newImages": self.new_images}


def _split(session: Session, project_id: int, found: Collection[str]) -> tuple[list[tuple[int, str]], list[int]]:
    rows = session.execute(select(Sample.id, Sample.filename).where(Sample.project_id == project_id))
    kept, dropped = [], []
    for sid, filename in rows:
        (kept.append((sid, filename)) if filename in found else dropped.append(sid))
    return kept, dropped


def plan_source_change(session: Session, project_id: int, found: Collection[str]) -> SourcePlan:
    """What moving to a folder holding these relative paths would do."""
    kept, dropped = _split(session, project_id, found)
    labelled = annotations = 0
    for chunk in _chunks(dropped):
        labelled += session.scalar(select(func.count()).where(Sample.id.in_(chunk), Sample.status == "LABELED")) or 0
        annotations += session.scalar(select(func.count()).select_from(Annotation)
                                      .where(Annotation.sample_id.in_(chunk))) or 0
    return SourcePlan(len(kept), len(dropped), labelled, annotations, len(found) - len(kept))


def change_source(session: Session, project_id: int, folder: str, found: Collection[str],
                  expected_dropped: int) -> SourcePlan:
    """Move the project to folder (holding the relative paths `found`), in one transaction: drop the samples whose
    path is not there (refused when that is not the confirmed count), repoint the others, add the new files."""
    if dialect_of(session) == "postgresql":  # one change at a time; saves of its samples wait
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    plan = plan_source_change(session, project_id, found)
    if plan.dropped != expected_dropped:
        raise Conflict(f"{plan.dropped:,} samples would be dropped now, not the {expected_dropped:,} confirmed: "
                       "check the change again.")
    kept, dropped = _split(session, project_id, found)
    _delete_samples(session, dropped)
    kept_ids = [sid for sid, _ in kept]
    for chunk in _chunks(kept_ids):  # two steps: a new path may be an old path of another kept sample
        session.execute(update(Sample).where(Sample.id.in_(chunk))
                        .values(path=literal(":moving:") + cast(Sample.id, String))
                        .execution_options(synchronize_session=False))
    for chunk in _chunks(kept_ids):
        session.execute(update(Sample).where(Sample.id.in_(chunk))
                        .values(path=literal(f"{folder}/") + Sample.filename, missing_since=None)
                        .execution_options(synchronize_session=False))
    get_project(session, project_id).source_volume = folder
    session.flush()
    known = {filename for _, filename in kept}
    new = sorted(f for f in found if f not in known)
    for i in range(0, len(new), 5000):
        sample_rows.insert_new(session, project_id, [(f"{folder}/{f}", f) for f in new[i:i + 5000]])
    counters.recount(session, project_id)
    emit(session, f"project:{project_id}")
    return plan
