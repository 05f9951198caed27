"""Who may reach which volume path (README, "Who can reach what"): `Reach(services, user)`, one per request.

Instance admins (and the single user of AUTH_MODE=local) reach every path. Anyone else reaches the folders an admin
shared with them and the image folders and export areas of the projects they own; an import also reads its own
project's upload area. Whoever asks, no export is written inside a project's image folder: that project's next
rescan would take the exported images for new samples.
"""

from __future__ import annotations

from db import projects as project_rows
from db import volume_shares
from db.errors import Forbidden
from schema.services import CurrentUser, Services
from volumes.base import Entry
from volumes.paths import VolumePath, parse

ASK = "an instance admin can share it with you"


class Reach:
    def __init__(self, services: Services, user: CurrentUser) -> None:
        self.services = services
        self.user = user
        self._facts: volume_shares.Reachable | None = None

    def upload_area(self, project_id: int) -> VolumePath:
        return parse(f"{self.services.uploads_volume}/{project_id}")

    def export_area(self, project_id: int) -> VolumePath | None:
        """The folder a project's owners may always export into; None when the server has no export volume."""
        return parse(f"{self.services.export_areas}/project-{project_id}") if self.services.export_areas else None

    async def _reachable(self) -> volume_shares.Reachable:
        if self._facts is None:
            self._facts = await self.services.db.read(volume_shares.reachable, self.user.id)
        return self._facts

    async def roots(self) -> list[VolumePath] | None:
        """The folders the caller reads everything below; None: every path (an admin)."""
        if self.user.is_admin:
            return None
        facts = await self._reachable()
        areas = [self.export_area(pid) for pid in facts.owned_sources]
        return [*map(parse, facts.shared), *map(parse, facts.owned_sources.values()), *filter(None, areas)]

    async def export_roots(self) -> list[VolumePath]:
        """Where the caller's past exports are looked for: the export volume (an admin), else the folders shared
        with them and their projects' export areas (never their image folders: no export goes there)."""
        if self.user.is_admin:
            return [parse(self.services.export_areas)] if self.services.export_areas else []
        facts = await self._reachable()
        areas = [self.export_area(pid) for pid in facts.owned_sources]
        return [*map(parse, facts.shared), *filter(None, areas)]

    async def read(self, path: VolumePath, doing: str, project_id: int | None = None) -> None:
        """FORBIDDEN, naming the path, unless the caller may read it; an import (project_id) also reads that
        project's upload area."""
        roots = await self.roots()
        if roots is None:
            return
        if project_id is not None:
            roots.append(self.upload_area(project_id))
        if not any(path.within(root) for root in roots):
            raise Forbidden(f"You may not {doing} {path}: it is not shared with you ({ASK}).", path=path.text)

    async def lead_ins(self, path: VolumePath) -> list[Entry] | None:
        """Above the caller's folders, the folders on the way to them (nothing else there is shown); None when
        the path is listed as it is (an admin's, or one inside a folder the caller reads)."""
        roots = await self.roots()
        if roots is None or any(path.within(root) for root in roots):
            return None
        names = sorted({root.parts[path.depth] for root in roots if root.depth > path.depth and root.within(path)})
        if not names:
            raise Forbidden(f"You may not browse {path}: it is not shared with you ({ASK}).", path=path.text)
        return [Entry(name=name, path=path.child(name).text, is_dir=True) for name in names]

    async def write(self, path: VolumePath, project_id: int) -> None:
        """An export of the project into path: into a folder shared with the caller or the project's export area
        (anywhere for admins), and never inside a project's image folder. Which folder that is, is said only to
        a caller who may read the path."""
        roots = await self.roots()
        allowed: list[VolumePath] = []
        if roots is not None:
            area = self.export_area(project_id)
            allowed = [*map(parse, (await self._reachable()).shared), *([area] if area else [])]
            where = f"nor this project's export area {area}" if area else "and this server has no export volume"
            refused = Forbidden(f"You may not export into {path}: it is not shared with you {where} ({ASK}).",
                                path=path.text)
            if not any(path.within(root) for root in (*roots, *allowed)):
                raise refused
        inside = await self.services.db.read(project_rows.image_folders_at, [p.text for p in path.ancestors()])
        if inside:
            pid, folder = inside[0]
            whose = "this project's own" if pid == project_id else \
                f"project {pid}'s" if roots is None else "another project's"
            raise Forbidden(f"Exports cannot go into {path}: it is inside {folder}, {whose} image folder, and its "
                            "next rescan would take the exported images for new samples. Pick a folder outside it.",
                            path=path.text)
        if roots is not None and not any(path.within(root) for root in allowed):
            raise refused
