"""Volume shares, for instance admins: the volume paths each user may reach besides their own projects' folders."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import volume_shares
from db.errors import Invalid
from resolvers.volumes import checked_folder
from schema.access import require_admin
from schema.accounts import User
from schema.context import Info
from schema.ids import parse_id
from volumes.paths import parse

MAX_SHARE_PATH = 1024  # the column's width; a longer path is refused, not cut


@strawberry.type(description="A volume path an instance admin shared with a user: they may browse it, preview its "
                             "images, import from it and export into it (never into a project's image folder).")
class VolumeShare:
    id: strawberry.ID
    path: str
    user: User
    created_by: str
    created_at: datetime

    @staticmethod
    def of(s: volume_shares.Share) -> VolumeShare:
        return VolumeShare(id=strawberry.ID(str(s.id)), path=s.path, created_by=s.created_by,
                           created_at=s.created_at,
                           user=User(id=strawberry.ID(str(s.user_id)), name=s.user_name, is_admin=s.user_is_admin))


@strawberry.type
class ShareQueries:
    @strawberry.field(description="The volume paths shared with users (with userId, with that user), by path; for "
                                  "instance admins.")
    async def volume_shares(self, info: Info, user_id: strawberry.ID | None = None) -> list[VolumeShare]:
        require_admin(info, "Volume shares")
        uid = None if user_id is None else parse_id(user_id, "User")
        return [VolumeShare.of(s) for s in await info.context.db.read(volume_shares.list_shares, uid)]


@strawberry.type
class ShareMutations:
    @strawberry.mutation(description="Shares a volume or a folder in one with a user (instance admins): they may "
                                     "browse it, preview, import from and export into it. Sharing it again "
                                     "changes nothing.")
    async def share_volume(self, info: Info, path: str, user_id: strawberry.ID) -> VolumeShare:
        require_admin(info, "Sharing volumes")
        uid = parse_id(user_id, "User")
        if len(path.strip()) > MAX_SHARE_PATH:
            raise Invalid(f"A shared path has at most {MAX_SHARE_PATH} characters.", field="path")
        folder = await checked_folder(info, path)
        return VolumeShare.of(await info.context.db.write(volume_shares.share, uid, folder.text,
                                                          info.context.user.name))

    @strawberry.mutation(description="Takes a share back (instance admins); false if that path was not shared "
                                     "with that user.")
    async def unshare_volume(self, info: Info, path: str, user_id: strawberry.ID) -> bool:
        require_admin(info, "Sharing volumes")
        return await info.context.db.write(volume_shares.unshare, parse_id(user_id, "User"), parse(path).text)
