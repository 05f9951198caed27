"""Class keys and labelling settings: a project owner's default key map, each user's own key map over it, where a
user's save goes next, and adding a class while labelling. A key map is {"classes": {name: key}, "none": key}."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import emit
from db.errors import Invalid, NotFound
from db.models import LabelSetting, Project
from db.projects import clean_classes, get_project

KEY = re.compile(r"(Shift\+)?[0-9a-z]")  # a digit or a lower-case letter, with Shift or without ("" = no key)
AFTER_SAVE = ("ORDER", "NEEDS_WORK")


@dataclass(frozen=True)
class Settings:
    project_key_map: dict[str, Any] | None
    my_key_map: dict[str, Any] | None
    after_save: str


def clean_key_map(classes: list[str], classes_keys: list[tuple[str, str]], none: str | None) -> dict[str, Any]:
    """A key map checked against the project's classes: known names, each once; keys of the KEY form, each given to
    one action only."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    if len(classes_keys) > len(classes):
        raise Invalid(f"The key map names {len(classes_keys)} classes; the project has {len(classes)}.",
                      field="keyMap")
    for name, key in [*classes_keys, *([("", none)] if none is not None else [])]:
        what = f"class {name!r}" if name else "“none of these”"
        if name and name not in classes:
            raise Invalid(f"The key map names {name[:40]!r}, which is not a class of this project.", field="keyMap")
        if name in out:
            raise Invalid(f"The key map names class {name!r} twice.", field="keyMap")
        if key and not KEY.fullmatch(key):
            raise Invalid(f"The key for {what} must be a digit or a letter, optionally with Shift (like 7, q or "
                          f"Shift+q); {key[:20]!r} is not.", field="keyMap")
        if key in taken:
            raise Invalid(f"Key {key} is given to both {taken[key]} and {what}.", field="keyMap")
        if key:
            taken[key] = what
        if name:
            out[name] = key
    result: dict[str, Any] = {"classes": out}
    if none is not None:
        result["none"] = none
    return result


def get_settings(session: Session, project_id: int, user_id: int) -> Settings:
    """The owner's key map, the user's own and their after-save choice (defaults when they never set any)."""
    project = get_project(session, project_id)
    mine = session.get(LabelSetting, (project_id, user_id))
    return Settings(project.key_map, mine.key_map if mine else None, mine.after_save if mine else "ORDER")


def set_project_key_map(session: Session, project_id: int, key_map: dict[str, Any] | None) -> Project:
    """The owner's default key map for everyone in the project (None: the built-in defaults)."""
    project = get_project(session, project_id)
    project.key_map = key_map
    session.flush()
    emit(session, f"project:{project.id}")
    return project


def set_my_settings(session: Session, project_id: int, user_id: int, *, key_map: dict[str, Any] | None,
                    clear_key_map: bool, after_save: str | None) -> Settings:
    """Changes what is given: the user's key map (or clears it), and where their saves go next."""
    if after_save is not None and after_save not in AFTER_SAVE:
        raise Invalid(f"afterSave is one of {', '.join(AFTER_SAVE)}.", field="afterSave")
    get_project(session, project_id)
    row = session.get(LabelSetting, (project_id, user_id))
    if row is None:
        row = LabelSetting(project_id=project_id, user_id=user_id, after_save="ORDER")
        session.add(row)
    if clear_key_map:
        row.key_map = None
    elif key_map is not None:
        row.key_map = key_map
    if after_save is not None:
        row.after_save = after_save
    session.flush()
    return get_settings(session, project_id, user_id)


def add_class(session: Session, project_id: int, name: str) -> Project:
    """Appends a class (the project row locked, so two people adding at once both get theirs); adding a class
    that exists already changes nothing. Open labelling views learn of it from the project's live event."""
    project = session.scalars(select(Project).where(Project.id == project_id).with_for_update()).first()
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    clean = clean_classes([name])[0]
    if clean in project.classes:
        return project
    project.classes = clean_classes([*project.classes, clean])
    session.flush()
    emit(session, f"project:{project.id}")
    return project
