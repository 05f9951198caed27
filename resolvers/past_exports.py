"""pastExports: the finished exports found in the export volume (or a folder the caller may read), from each
folder's metadata.json."""

from __future__ import annotations

import asyncio

import strawberry

from db.errors import Invalid
from resolvers.volumes import checked_folder
from schema.access import require
from schema.context import Info
from schema.exports import PastExport
from schema.ids import parse_id
from volumes import past_exports


@strawberry.type
class PastExportQueries:
    @strawberry.field(description="Finished exports, newest first, read from the metadata.json of each sub-folder of "
                                  "`folder` (and of the project export areas in it); without a folder, the export "
                                  "volume (instance admins) or the folders shared with the caller and their "
                                  "projects' export areas. projectId keeps that project's exports; `first` (at "
                                  f"most {past_exports.MAX_FOLDERS}) the newest. At most {past_exports.MAX_FOLDERS} "
                                  "folders are looked into.")
    async def past_exports(self, info: Info, folder: str | None = None, project_id: strawberry.ID | None = None,
                           first: int | None = 50) -> list[PastExport]:
        if first is not None and not 0 <= first <= past_exports.MAX_FOLDERS:
            raise Invalid(f"first must be between 0 and {past_exports.MAX_FOLDERS}.")
        pid = parse_id(project_id, "Project") if project_id is not None else None
        if pid is not None:
            await require(info, pid, "viewer")
        if folder is not None:
            path = await checked_folder(info, folder)
            await info.context.reach.read(path, "list the exports in")
            roots = [path]
        else:
            roots = await info.context.reach.export_roots()
        found = await asyncio.to_thread(past_exports.find, info.context.services.volumes, roots)
        mine = [PastExport.of(e) for e in found if pid is None or e.project_id == pid]
        return mine[:50 if first is None else first]
