"""Keys and labelling settings: the owner's default key map, each user's own key map and after-save choice, the
labelSettingsChanged subscription, and adding a class while labelling."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any, cast

import strawberry

from db import key_maps
from db import projects as project_rows
from resolvers.still_allowed import StillAllowed
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.projects import Project


@strawberry.enum(description="Where a save in the labelling view goes next.")
class AfterSave(Enum):
    ORDER = "ORDER"
    NEEDS_WORK = "NEEDS_WORK"


KEY_FORM = ("A key is a digit or a lower-case letter, a named key (Enter, Escape, Tab, Backspace, Delete, Insert, "
            "Home, End, PageUp, PageDown, ArrowLeft/Right/Up/Down, F1-F12) or one punctuation mark as typed "
            "(?, +, [ …), after 'Ctrl+', 'Alt+' and 'Shift+' in that order (Shift+ not before a punctuation mark).")

LabelAction = strawberry.enum(
    cast(type[Enum], Enum("LabelAction", {a["action"]: strawberry.enum_value(a["action"], description=a["what"])
                                          for a in key_maps.ACTIONS})),
    description="A labelling action that has keys (besides the class keys and the 'none' key).")


@strawberry.type(description=f"A class and its key ('' = no key). {KEY_FORM}")
class ClassKey:
    name: str
    key: str


@strawberry.type(description=f"An action and its keys ([] = none). {KEY_FORM}")
class ActionKeys:
    action: LabelAction  # type: ignore[valid-type]
    keys: list[str]


@strawberry.type(description="Which key picks which class, the 'none of these / no objects' key (null: unchanged "
                             "from the layer below) and the keys of the other labelling actions. Classes and actions "
                             "not named keep the keys of the layer below.")
class KeyMap:
    classes: list[ClassKey]
    none: str | None
    actions: list[ActionKeys]

    @staticmethod
    def of(stored: dict[str, Any] | None) -> KeyMap | None:
        if stored is None:
            return None
        return KeyMap(classes=[ClassKey(name=n, key=k) for n, k in stored.get("classes", {}).items()],
                      none=stored.get("none"),
                      actions=[ActionKeys(action=LabelAction[a], keys=keys)
                               for a, keys in stored.get("actions", {}).items() if a in key_maps.ACTION_NAMES])


@strawberry.input
class ClassKeyInput:
    name: str
    key: str


@strawberry.input
class ActionKeysInput:
    action: LabelAction  # type: ignore[valid-type]
    keys: list[str]


@strawberry.input(description="A key map: keys as in ClassKey. One key does one thing: a key given here that another "
                              "action keeps (in this map or below it) is refused, as are keys the browser or the app "
                              "keeps (Space pans, Ctrl+W closes the tab…).")
class KeyMapInput:
    classes: list[ClassKeyInput]
    none: str | None = None
    actions: list[ActionKeysInput] | None = None


@strawberry.type(description="The key maps in force for the caller in a project (the built-in defaults, then the "
                             "owner's projectKeyMap, then myKeyMap) and where the caller's saves go next.")
class LabelSettings:
    project_key_map: KeyMap | None
    my_key_map: KeyMap | None
    after_save: AfterSave

    @staticmethod
    def of(s: key_maps.Settings) -> LabelSettings:
        return LabelSettings(project_key_map=KeyMap.of(s.project_key_map), my_key_map=KeyMap.of(s.my_key_map),
                             after_save=AfterSave(s.after_save))


async def _clean(info: Info, project_id: int, key_map: KeyMapInput, *, over_owner: bool) -> dict[str, Any]:
    """The map checked against the project's classes and what lies below it (the owner's map under a user's)."""
    project = await info.context.db.read(project_rows.get_project, project_id)
    return key_maps.clean_key_map(project.classes, [(c.name, c.key) for c in key_map.classes], key_map.none,
                                  [(cast(Enum, a.action).name, a.keys) for a in key_map.actions or []],
                                  [project.key_map] if over_owner else [])


@strawberry.type
class KeyMapQueries:
    @strawberry.field(description="The caller's labelling settings in the project. Viewers and up.")
    async def label_settings(self, info: Info, project_id: strawberry.ID) -> LabelSettings:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        return LabelSettings.of(await info.context.db.read(key_maps.get_settings, pid, info.context.user.id))


@strawberry.type
class KeyMapMutations:
    @strawberry.mutation(description="The project's default keys for everyone (null: the built-in 1-9, "
                                     "Shift+1-9 and E for the classes and 'none', and LabelAction's keys). Owners.")
    async def set_project_key_map(self, info: Info, project_id: strawberry.ID,
                                  key_map: KeyMapInput | None = None) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        clean = None if key_map is None else await _clean(info, pid, key_map, over_owner=False)
        return Project.of(await info.context.db.write(key_maps.set_project_key_map, pid, clean))

    @strawberry.mutation(description="The caller's own labelling settings in the project: their key map over the "
                                     "owner's (clearKeyMap: back to the owner's), and where a save goes next. Only "
                                     "what is given changes. Viewers and up.")
    async def set_my_label_settings(self, info: Info, project_id: strawberry.ID, key_map: KeyMapInput | None = None,
                                    clear_key_map: bool = False, after_save: AfterSave | None = None,
                                    ) -> LabelSettings:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        clean = None if key_map is None else await _clean(info, pid, key_map, over_owner=True)
        return LabelSettings.of(await info.context.db.write(
            key_maps.set_my_settings, pid, info.context.user.id, key_map=clean, clear_key_map=clear_key_map,
            after_save=after_save.value if after_save else None))

    @strawberry.mutation(description="Adds a class at the end of the project's list (an existing name changes "
                                     "nothing); open labelling views get its key at once. Owners.")
    async def add_class(self, info: Info, project_id: strawberry.ID, name: str) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        return Project.of(await info.context.db.write(key_maps.add_class, pid, name))


@strawberry.type
class KeyMapSubscriptions:
    @strawberry.subscription(description="Emits the caller's labelling settings in the project each time the owner's "
                                         "key map or the caller's own settings change (from another tab too), so open "
                                         "labelling views use the new keys at once. Viewers and up.")
    async def label_settings_changed(self, info: Info, project_id: strawberry.ID
                                     ) -> AsyncGenerator[LabelSettings, None]:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        allowed = StillAllowed(info, lambda access: access.project(pid, "viewer"))
        me = info.context.user.id
        async with info.context.services.broker.subscribe(f"keys:{pid}") as events:
            while True:
                whose = await events.get()  # None: the owner's map, else the user whose own settings changed
                if whose is not None and whose != me:
                    continue
                await allowed()
                yield LabelSettings.of(await info.context.db.read(key_maps.get_settings, pid, me))
