"""Project statistics assembled from the counters (see db.counters), never from a scan of the samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import counters
from db.counters import (
    ACCEPTED_BY,
    ANNOTATIONS_BY,
    CLASS,
    LABELED_BY,
    LABELED_DAY,
    REJECTED_BY,
    SKIPPED_BY,
    STATUS,
)
from db.errors import NotFound
from db.models import Project, utcnow

STATUSES = ("UNLABELED", "PRE_LABELED", "LABELED", "SKIPPED")
VELOCITY_DAYS = 30
RATE_DAYS = 7  # the completion estimate uses the average of the last week


@dataclass(frozen=True)
class UserStats:
    user: str
    labeled: int
    skipped: int
    annotations: int
    accepted: int = 0  # of the samples they labelled, how many a reviewer accepted / rejected
    rejected: int = 0


@dataclass(frozen=True)
class ProjectStats:
    project_id: int
    by_status: dict[str, int]
    per_user: list[UserStats]
    per_class: list[tuple[str, int]]
    velocity: list[tuple[date, int]]  # samples whose latest label was saved that day, oldest first, zero-filled

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def estimated_completion(self) -> datetime | None:
        """When the unlabelled and pre-labelled samples run out at last week's pace; None without a pace."""
        remaining = self.by_status["UNLABELED"] + self.by_status["PRE_LABELED"]
        rate = sum(n for _, n in self.velocity[-RATE_DAYS:]) / RATE_DAYS
        if remaining == 0 or rate == 0:
            return None
        today = self.velocity[-1][0]
        return datetime.combine(today, time(), tzinfo=utcnow().tzinfo) + timedelta(days=remaining / rate)


def assemble(project_id: int, classes: Sequence[str], c: dict[str, dict[str, int]]) -> ProjectStats:
    status = c.get(STATUS, {})
    by_status = {s: status.get(s, 0) for s in STATUSES}
    labeled, skipped, annotated = c.get(LABELED_BY, {}), c.get(SKIPPED_BY, {}), c.get(ANNOTATIONS_BY, {})
    accepted, rejected = c.get(ACCEPTED_BY, {}), c.get(REJECTED_BY, {})
    users = sorted(set(labeled) | set(skipped) | set(annotated))
    per_user = [UserStats(u, labeled.get(u, 0), skipped.get(u, 0), annotated.get(u, 0), accepted.get(u, 0),
                          rejected.get(u, 0)) for u in users]
    per_user.sort(key=lambda u: (-u.labeled, u.user))
    per_class_counts = c.get(CLASS, {})
    per_class = [(label, per_class_counts.get(label, 0)) for label in classes]
    days = c.get(LABELED_DAY, {})
    today = utcnow().date()
    velocity = [(d, days.get(d.isoformat(), 0))
                for d in (today - timedelta(days=k) for k in range(VELOCITY_DAYS - 1, -1, -1))]
    return ProjectStats(project_id, by_status, per_user, per_class, velocity)


def stats_by_project(session: Session, project_ids: Sequence[int]) -> dict[int, ProjectStats]:
    """Stats of existing projects by id (NotFound for an id that does not exist)."""
    classes = dict(session.execute(select(Project.id, Project.classes).where(Project.id.in_(project_ids))).all())
    missing = [i for i in project_ids if i not in classes]
    if missing:
        raise NotFound(f"Project {missing[0]} does not exist.")
    return stats_for(session, [(i, classes[i]) for i in project_ids])


def stats_for(session: Session, projects: Iterable[tuple[int, Sequence[str]]]) -> dict[int, ProjectStats]:
    """Stats for several (project_id, classes) at once: one query."""
    projects = list(projects)
    raw = counters.read(session, [pid for pid, _ in projects])
    return {pid: assemble(pid, classes, raw[pid]) for pid, classes in projects}
