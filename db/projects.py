"""Projects and their lineage of versions: create, update, delete, clone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from db import counters
from db.engine import emit
from db.errors import Conflict, Invalid, NotFound
from db.models import Annotation, Project, ProjectMember, Sample

TASK_TYPES = ("CLASSIFICATION", "DETECTION")
MAX_CLASSES = 1000


def clean_classes(classes: Sequence[str]) -> list[str]:
    """Trimmed, non-empty, unique class names in the given order."""
    out: list[str] = []
    for i, raw in enumerate(classes):
        name = (raw or "").strip()
        if not name:
            raise Invalid(f"Class {i + 1} is empty.", field="classes", index=i)
        if len(name) > 200:
            raise Invalid(f"Class {name[:40]!r}… is longer than 200 characters.", field="classes", index=i)
        if name in out:
            raise Invalid(f"Class {name!r} is listed twice.", field="classes", index=i)
        out.append(name)
    if not out:
        raise Invalid("A project needs at least one class.", field="classes")
    if len(out) > MAX_CLASSES:
        raise Invalid(f"A project can have at most {MAX_CLASSES} classes.", field="classes")
    return out


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("A project needs a name.", field="name")
    if len(name) > 200:
        raise Invalid("A project name is at most 200 characters.", field="name")
    return name


def find_project(session: Session, project_id: int) -> Project | None:
    return session.get(Project, project_id)


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    return project


def get_projects(session: Session, ids: Sequence[int]) -> dict[int, Project]:
    rows = session.scalars(select(Project).where(Project.id.in_(ids)))
    return {p.id: p for p in rows}


def image_folders_at(session: Session, paths: Sequence[str]) -> list[tuple[int, str]]:
    """(id, source folder) of the projects whose image folder is one of these paths (a path and its ancestors give
    the projects a file written there would land inside)."""
    rows = session.execute(select(Project.id, Project.source_volume).where(Project.source_volume.in_(list(paths)))
                           .order_by(Project.id))
    return [(pid, src) for pid, src in rows]


def list_projects(session: Session, member_id: int | None = None) -> list[Project]:
    """Every project (or every project of which member_id is a member), lineage by lineage (roots in creation
    order, versions oldest first)."""
    stmt = select(Project).order_by(Project.root_id, Project.version, Project.id)
    if member_id is not None:
        stmt = stmt.join(ProjectMember, (ProjectMember.project_id == Project.id)
                         & (ProjectMember.user_id == member_id))
    return list(session.scalars(stmt))


def lineage(session: Session, root_ids: Sequence[int]) -> dict[int, list[Project]]:
    rows = session.scalars(
        select(Project).where(Project.root_id.in_(root_ids)).order_by(Project.version, Project.id)
    )
    out: dict[int, list[Project]] = {rid: [] for rid in root_ids}
    for p in rows:
        out[p.root_id or p.id].append(p)
    return out


def _ensure_name_free(session: Session, name: str, except_id: int | None = None) -> None:
    existing = session.scalar(select(Project.id).where(Project.name == name))
    if existing is not None and existing != except_id:
        raise Conflict(f"A project named {name!r} already exists.", field="name")


def create_project(
    session: Session, *, name: str, description: str, task_type: str, classes: Sequence[str],
    multi_label: bool, source_volume: str, created_by: str, source_table: dict[str, Any] | None = None,
) -> Project:
    name = clean_name(name)
    if task_type not in TASK_TYPES:
        raise Invalid(f"Unknown task type {task_type!r}.", field="taskType")
    if multi_label and task_type != "CLASSIFICATION":
        raise Invalid("multiLabel applies to classification projects only.", field="multiLabel")
    _ensure_name_free(session, name)
    project = Project(
        name=name, description=description or "", task_type=task_type, classes=clean_classes(classes),
        multi_label=multi_label, source_volume=source_volume, source_table=source_table, version=1,
        created_by=created_by,
    )
    session.add(project)
    session.flush()
    project.root_id = project.id
    session.flush()
    return project


def set_model_settings(session: Session, project: Project, settings: dict[str, Any] | None) -> Project:
    """Stores the (validated) model settings; None returns the project to the server's default model."""
    project.model_settings = settings
    session.flush()
    emit(session, f"project:{project.id}")
    return project


def update_project(
    session: Session, project_id: int, *, name: str | None, description: str | None,
    classes: Sequence[str] | None,
) -> Project:
    project = get_project(session, project_id)
    if name is not None:
        name = clean_name(name)
        _ensure_name_free(session, name, except_id=project.id)
        project.name = name
    if description is not None:
        project.description = description
    if classes is not None:
        new = clean_classes(classes)
        removed = set(project.classes) - set(new)
        if removed:
            used = session.scalars(
                select(Annotation.label).where(Annotation.project_id == project.id, Annotation.label.in_(removed))
                .distinct()
            )
            in_use = sorted(used)
            if in_use:
                raise Conflict(f"Classes still in use cannot be removed: {', '.join(in_use)}.", field="classes")
        project.classes = new
    session.flush()
    emit(session, f"project:{project.id}")
    return project


def delete_project(session: Session, project_id: int) -> None:
    """Delete a project with its samples, annotations and jobs; its lineage stays linked without it."""
    project = get_project(session, project_id)
    root = project.root_id or project.id
    others = list(session.scalars(
        select(Project).where(Project.root_id == root, Project.id != project.id).order_by(Project.version)
    ))
    for p in others:
        if p.parent_id == project.id:
            p.parent_id = project.parent_id
    if others and root == project.id:
        for p in others:
            p.root_id = others[0].id
    session.flush()
    session.delete(project)
    session.flush()


def clone_project(session: Session, project_id: int, created_by: str) -> Project:
    """A new version of the lineage with the same classes, class keys and samples, and no annotations."""
    source = get_project(session, project_id)
    root = get_project(session, source.root_id or source.id)
    newest = session.scalar(select(func.max(Project.version)).where(Project.root_id == root.id)) or 1
    version = newest + 1
    name = f"{root.name} v{version}"
    _ensure_name_free(session, name)
    clone = Project(
        name=name, description=source.description, task_type=source.task_type, classes=list(source.classes),
        multi_label=source.multi_label, source_volume=source.source_volume, source_table=source.source_table,
        version=version,
        parent_id=source.id, root_id=root.id, created_by=created_by, key_map=source.key_map,
    )
    session.add(clone)
    session.flush()
    copied = select(
        literal(clone.id), Sample.path, Sample.filename, literal("UNLABELED"), literal(1), Sample.width, Sample.height
    ).where(Sample.project_id == source.id).order_by(Sample.id)
    session.execute(
        insert(Sample).from_select(["project_id", "path", "filename", "status", "version", "width", "height"], copied)
    )
    copied_count = sum((counters.read(session, [source.id]))[source.id].get(counters.STATUS, {}).values())
    counters.bump(session, clone.id, {(counters.STATUS, "UNLABELED"): copied_count})
    return clone

