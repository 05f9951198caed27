"""Keys and labelling settings: a project owner's default key map, each user's own key map over it, where a user's
save goes next, and adding a class while labelling. A key map is {"classes": {name: key}, "none": key,
"actions": {action: [key, ...]}}; the actions and their default keys are in label_actions.json (the client reads the
same file)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import emit
from db.errors import Invalid, NotFound
from db.models import LabelSetting, Project
from db.projects import clean_classes, get_project

ACTIONS: list[dict[str, Any]] = json.loads((Path(__file__).with_name("label_actions.json")).read_text("utf-8"))
ACTION_NAMES = [a["action"] for a in ACTIONS]
_NAMED = "Enter|Escape|Tab|Backspace|Delete|Insert|Home|End|PageUp|PageDown|ArrowLeft|ArrowRight|ArrowUp|ArrowDown|" \
         "Space|F[1-9]|F1[0-2]"
# Ctrl+, Alt+ in that order, then a digit, a lower-case letter or a named key (Shift+ allowed before those), or one
# punctuation mark as typed (its Shift is in the mark: ? not Shift+/)
KEY = re.compile(rf"(Ctrl\+)?(Alt\+)?((Shift\+)?([0-9a-z]|{_NAMED})|[!-/:-@\[-`{{-~])")
RESERVED = {
    "Space": "panning (hold Space and drag)",
    "Ctrl+w": "the browser (close the tab)", "Ctrl+t": "the browser (new tab)", "Ctrl+n": "the browser (new window)",
    "Ctrl+Shift+n": "the browser (new private window)", "Ctrl+Shift+t": "the browser (reopen a closed tab)",
    "Ctrl+Tab": "the browser (next tab)", "Ctrl+Shift+Tab": "the browser (previous tab)",
    "Ctrl+q": "the browser (quit)", "Ctrl+l": "the browser (address bar)", "Ctrl+r": "the browser (reload)",
    "F5": "the browser (reload)", "F11": "the browser (full screen)", "F12": "the browser (developer tools)",
}
AFTER_SAVE = ("ORDER", "NEEDS_WORK")
KEY_HELP = ("a digit or a letter, a named key (Enter, ArrowLeft, F2…) or a punctuation mark, after Ctrl+, Alt+ and "
            "Shift+ in that order (like 7, q, Shift+q, Ctrl+Enter or ?)")


@dataclass(frozen=True)
class Settings:
    project_key_map: dict[str, Any] | None
    my_key_map: dict[str, Any] | None
    after_save: str


def _scopes_meet(a: str, b: str) -> bool:
    """Whether two actions can be asked for at the same moment: nudges act only with boxes selected, previous / next
    image only without, so the arrows serve both."""
    return {a, b} != {"selection", "noSelection"}


def _scope(action: str) -> str:
    return next((a["scope"] for a in ACTIONS if a["action"] == action), "any")


def _bindings(classes: list[str], layers: Sequence[dict[str, Any] | None]) -> dict[str, list[str]]:
    """Who holds which keys once the layers are applied over the defaults: "class:<name>", "none" or an action name.
    A later layer's key is taken from whatever an earlier one gave it to."""
    held: dict[str, list[str]] = {f"class:{c}": [default_class_key(i)] if default_class_key(i) else []
                                  for i, c in enumerate(classes)}
    held["none"] = ["e"]
    held.update({a["action"]: list(a["keys"]) for a in ACTIONS})
    for layer in layers:
        for who, keys in _entries(layer or {}, classes):
            for other in held:
                if other != who and _scopes_meet(_scope(other), _scope(who)):
                    held[other] = [k for k in held[other] if k not in keys]
            held[who] = keys
    return held


def _entries(stored: dict[str, Any], classes: list[str]) -> list[tuple[str, list[str]]]:
    out = [(f"class:{n}", [k] if k else []) for n, k in stored.get("classes", {}).items() if n in classes]
    if stored.get("none") is not None:
        out.append(("none", [stored["none"]] if stored["none"] else []))
    out += [(a, list(keys)) for a, keys in stored.get("actions", {}).items() if a in ACTION_NAMES]
    return out


def default_class_key(index: int) -> str:
    """1-9, then Shift+1-9; none past the eighteenth class (unless remapped)."""
    return str(index + 1) if index < 9 else f"Shift+{index - 8}" if index < 18 else ""


def _called(who: str) -> str:
    return f"class {who[6:]!r}" if who.startswith("class:") else "“none of these”" if who == "none" else who


def clean_key_map(classes: list[str], classes_keys: list[tuple[str, str]], none: str | None,
                  actions: Sequence[tuple[str, list[str]]] = (), below: Sequence[dict[str, Any] | None] = ()
                  ) -> dict[str, Any]:
    """A key map checked against the project's classes and the layers below it (the owner's map under a user's):
    known names, each once; keys of the KEY form, none reserved; no key doing two things at once, whether both are
    in this map or one keeps it from below (give that one another key, or none, in the same map)."""
    if len(classes_keys) > len(classes):
        raise Invalid(f"The key map names {len(classes_keys)} classes; the project has {len(classes)}.",
                      field="keyMap")
    entries: list[tuple[str, list[str]]] = []
    for name, key in classes_keys:
        if name not in classes:
            raise Invalid(f"The key map names {name[:40]!r}, which is not a class of this project.", field="keyMap")
        entries.append((f"class:{name}", [key] if key else []))
    if none is not None:
        entries.append(("none", [none] if none else []))
    for action, keys in actions:
        if action not in ACTION_NAMES:
            raise Invalid(f"The key map names action {action[:40]!r}, which does not exist.", field="keyMap")
        entries.append((action, list(keys)))
    seen: set[str] = set()
    for who, keys in entries:
        if who in seen:
            raise Invalid(f"The key map names {_called(who)} twice.", field="keyMap")
        seen.add(who)
        if len(keys) > 4 or len(set(keys)) != len(keys):
            raise Invalid(f"{_called(who)} takes up to 4 different keys.", field="keyMap")
        for key in keys:
            if not KEY.fullmatch(key):
                raise Invalid(f"The key for {_called(who)} must be {KEY_HELP}; {key[:20]!r} is not.", field="keyMap")
            if key in RESERVED:
                raise Invalid(f"Key {key} is reserved for {RESERVED[key]}; it cannot be given to {_called(who)}.",
                              field="keyMap")
    base = _bindings(classes, below)
    for i, (who, keys) in enumerate(entries):
        rivals = entries[:i] + [(other, ks) for other, ks in base.items() if other not in seen]
        for key in keys:
            for other, ks in rivals:
                if key in ks and _scopes_meet(_scope(other), _scope(who)):
                    raise Invalid(f"Key {key} is given to both {_called(other)} and {_called(who)}.", field="keyMap")
    result: dict[str, Any] = {"classes": {who[6:]: (ks[0] if ks else "") for who, ks in entries
                                          if who.startswith("class:")}}
    if none is not None:
        result["none"] = none
    if actions:
        result["actions"] = {who: ks for who, ks in entries if who in ACTION_NAMES}
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
    emit(session, f"keys:{project.id}")  # open labelling views take the new keys (labelSettingsChanged)
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
    emit(session, f"keys:{project_id}", user_id)  # the user's other open views
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


def keyboard_table() -> str:
    """The README's keyboard map: every action with its default keys, from label_actions.json."""
    rows = ["| keys (default) | action (API) | what it does |", "|---|---|---|",
            "| `1`-`9`, `Shift+1`-`Shift+9` | classes 1-18 (`KeyMap.classes`) | classification: assign the class "
            "and go on (multi-label: toggle, then save); detection: class for new boxes, or relabel the selected "
            "boxes |",
            "| `e` | none of these / no objects (`KeyMap.none`) | save the image with nothing and go on |"]
    for a in ACTIONS:
        keys = ", ".join(f"`{k}`" for k in a["keys"])
        rows.append(f"| {keys} | `{a['action']}` | {a['what']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(keyboard_table())
