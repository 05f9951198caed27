"""Class keys and labelling settings: the owner's default key map, each user's own key map and after-save choice,
and adding a class while labelling."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from db import key_maps
from db import projects as project_rows
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.projects import Project


@strawberry.enum(description="Where a save in the labelling view goes next.")
class AfterSave(Enum):
    ORDER = "ORDER"
    NEEDS_WORK = "NEEDS_WORK"


@strawberry.type(description="A class and its key: a digit or a lower-case letter, optionally 'Shift+' before it; "
                             "'' = no key.")
class ClassKey:
    name: str
    key: str


@strawberry.type(description="Which key picks which class, and the 'none of these / no objects' key (null: "
                             "unchanged from the layer below). Classes not named keep the key of the layer below.")
class KeyMap:
    classes: list[ClassKey]
    none: str | None

    @staticmethod
    def of(stored: dict[str, Any] | None) -> KeyMap | None:
        if stored is None:
            return None
        return KeyMap(classes=[ClassKey(name=n, key=k) for n, k in stored.get("classes", {}).items()],
                      none=stored.get("none"))


@strawberry.input
class ClassKeyInput:
    name: str
    key: str


@strawberry.input(description="A key map: keys as in ClassKey; each key given to one action only.")
class KeyMapInput:
    classes: list[ClassKeyInput]
    none: str | None = None


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


async def _clean(info: Info, project_id: int, key_map: KeyMapInput) -> dict[str, Any]:
    project = await info.context.db.read(project_rows.get_project, project_id)
    return key_maps.clean_key_map(project.classes, [(c.name, c.key) for c in key_map.classes], key_map.none)


@strawberry.type
class KeyMapQueries:
    @strawberry.field(description="The caller's labelling settings in the project. Viewers and up.")
    async def label_settings(self, info: Info, project_id: strawberry.ID) -> LabelSettings:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        return LabelSettings.of(await info.context.db.read(key_maps.get_settings, pid, info.context.user.id))


@strawberry.type
class KeyMapMutations:
    @strawberry.mutation(description="The project's default class keys for everyone (null: the built-in 1-9, "
                                     "Shift+1-9 and E). Owners.")
    async def set_project_key_map(self, info: Info, project_id: strawberry.ID,
                                  key_map: KeyMapInput | None = None) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        clean = None if key_map is None else await _clean(info, pid, key_map)
        return Project.of(await info.context.db.write(key_maps.set_project_key_map, pid, clean))

    @strawberry.mutation(description="The caller's own labelling settings in the project: their key map over the "
                                     "owner's (clearKeyMap: back to the owner's), and where a save goes next. Only "
                                     "what is given changes. Viewers and up.")
    async def set_my_label_settings(self, info: Info, project_id: strawberry.ID, key_map: KeyMapInput | None = None,
                                    clear_key_map: bool = False, after_save: AfterSave | None = None,
                                    ) -> LabelSettings:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        clean = None if key_map is None else await _clean(info, pid, key_map)
        return LabelSettings.of(await info.context.db.write(
            key_maps.set_my_settings, pid, info.context.user.id, key_map=clean, clear_key_map=clear_key_map,
            after_save=after_save.value if after_save else None))

    @strawberry.mutation(description="Adds a class at the end of the project's list (an existing name changes "
                                     "nothing); open labelling views get its key at once. Owners.")
    async def add_class(self, info: Info, project_id: strawberry.ID, name: str) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        return Project.of(await info.context.db.write(key_maps.add_class, pid, name))
