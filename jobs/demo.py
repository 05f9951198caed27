"""Seeds the demo: writes the demo photos (and the labels and predictions files of jobs.demo_files) into the demo
volume and creates a detection and a classification project."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.orm import Session

from db import jobs as job_rows
from db import projects as project_rows
from jobs.demo_files import write_demo_files
from jobs.runner import JobRunner
from volumes.demo_images import DEMO_CLASSES, write_demo_images

DETECTION_NAME = "Demo: objects (detection)"
CLASSIFICATION_NAME = "Demo: scenes (classification)"
MARKER = ".cv-explorer-demo"


async def seed_demo(runner: JobRunner, *, volume: str, folder: Path, user: str, count: int = 60) -> list[str]:
    """Idempotent: images are written once, projects created once, and each is scanned to completion."""
    if not (folder / MARKER).exists():
        images = await asyncio.to_thread(write_demo_images, folder, count)
        await asyncio.to_thread(write_demo_files, folder, images)
        (folder / MARKER).write_text("demo images written by `python server.py demo`\n")
    specs = [
        (DETECTION_NAME, "DETECTION", list(DEMO_CLASSES), False,
         "Photos with objects to box. Press 1-5 to pick a class, drag to draw."),
        (CLASSIFICATION_NAME, "CLASSIFICATION", list(DEMO_CLASSES), True,
         "Tag each photo with every object class it shows (multi-label)."),
    ]
    made = [spec[0] for spec in specs if await runner.db.write(_create_once, *spec, volume=volume, user=user)]
    await runner.drain()
    return made


def _create_once(session: Session, name: str, task: str, classes: list[str], multi: bool, description: str, *,
                 volume: str, user: str) -> bool:
    if any(p.name == name for p in project_rows.list_projects(session)):
        return False
    project = project_rows.create_project(session, name=name, description=description, task_type=task,
                                          classes=classes, multi_label=multi, source_volume=volume, created_by=user)
    job_rows.queue_scan(session, project.id, user)
    return True
