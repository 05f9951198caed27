"""Per-request DataLoaders: every nested field batches its lookups into one query per level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from db import models, projects, samples, stats, submissions
from db.engine import Database


class Loaders:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.annotations: DataLoader[int, list[models.Annotation]] = DataLoader(self._annotations)
        self.history: DataLoader[int, list[models.AnnotationEvent]] = DataLoader(self._history)
        self.projects: DataLoader[int, models.Project | None] = DataLoader(self._projects)
        self.versions: DataLoader[int, list[models.Project]] = DataLoader(self._versions)
        self.stats: DataLoader[int, stats.ProjectStats] = DataLoader(self._stats)
        # (sample id, user) -> the user's own submission of the sample and its project's task
        self.own_submissions: DataLoader[tuple[int, str], tuple[models.Submission, str] | None] = DataLoader(
            self._own_submissions)

    async def _annotations(self, ids: Sequence[int]) -> list[Any]:
        found = await self.db.read(samples.annotations_for, list(ids))
        return [found[i] for i in ids]

    async def _history(self, ids: Sequence[int]) -> list[Any]:
        found = await self.db.read(samples.history_for, list(ids))
        return [found[i] for i in ids]

    async def _projects(self, ids: Sequence[int]) -> list[Any]:
        found = await self.db.read(projects.get_projects, list(ids))
        return [found.get(i) for i in ids]

    async def _versions(self, root_ids: Sequence[int]) -> list[Any]:
        found = await self.db.read(projects.lineage, list(root_ids))
        return [found[i] for i in root_ids]

    async def _stats(self, ids: Sequence[int]) -> list[Any]:
        found = await self.db.read(stats.stats_by_project, list(ids))
        return [found[i] for i in ids]

    async def _own_submissions(self, keys: Sequence[tuple[int, str]]) -> list[Any]:
        by_user: dict[str, list[int]] = {}
        for sample_id, user in keys:
            by_user.setdefault(user, []).append(sample_id)
        found = {user: await self.db.read(submissions.own_submissions, user, ids) for user, ids in by_user.items()}
        return [found[user].get(sample_id) for sample_id, user in keys]
