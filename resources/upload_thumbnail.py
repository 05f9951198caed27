"""Upload the tile thumbnail that the Databricks Apps overview shows for a deployed CV Explorer app.

The request is the Apps API's "Update an app thumbnail" (Databricks REST API reference, Apps > Thumbnail):
``PATCH /api/2.0/apps/{name}/thumbnail`` with ``{"app_thumbnail": {"thumbnail": <image bytes, base64>}}``,
the shape databricks-sdk's ``AppsAPI.update_app_thumbnail`` sends. The image is ``--image`` if given, else the
first icon found in ``client/public``, else a PNG drawn here with Pillow. Credentials are the usual
databricks-sdk ones: ``DATABRICKS_HOST`` + a token or OAuth variables, or a ``~/.databrickscfg`` profile.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

ROOT = Path(__file__).resolve().parent.parent
ICON_CANDIDATES = ("app-thumbnail.png", "thumbnail.png", "icon.png", "logo.png", "favicon.png")
APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
FORMATS = ("PNG", "JPEG")


class UsageError(Exception):
    """Bad input from the command line (exit status 2)."""


def find_icon(public: Path = ROOT / "client" / "public") -> Path | None:
    """The client's own icon, if it ships one in client/public."""
    for name in ICON_CANDIDATES:
        if (public / name).is_file():
            return public / name
    return None


def draw_icon(size: int = 512) -> bytes:
    """A CV Explorer tile: a photo frame with a labelled bounding box, as PNG bytes."""
    from PIL import Image, ImageDraw, ImageFont

    s = size / 512
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, size - 1, size - 1), radius=int(96 * s), fill=(30, 41, 59, 255))
    # The "photo": sky and two hills.
    frame = (int(64 * s), int(96 * s), int(448 * s), int(416 * s))
    d.rounded_rectangle(frame, radius=int(24 * s), fill=(51, 65, 85, 255))
    d.polygon([(frame[0], frame[3]), (int(200 * s), int(250 * s)), (int(300 * s), frame[3])], fill=(71, 85, 105, 255))
    d.polygon([(int(220 * s), frame[3]), (int(340 * s), int(220 * s)), (frame[2], frame[3])], fill=(100, 116, 139, 255))
    # The bounding box with its corner handles and class tab.
    box = (int(150 * s), int(170 * s), int(380 * s), int(380 * s))
    amber = (245, 158, 11, 255)
    d.rectangle(box, outline=amber, width=max(2, int(10 * s)))
    h = int(14 * s)
    for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
        d.rectangle((x - h, y - h, x + h, y + h), fill=(255, 255, 255, 255), outline=amber, width=max(1, int(4 * s)))
    tab = (box[0] - int(5 * s), box[1] - int(62 * s), box[0] + int(110 * s), box[1] - int(5 * s))
    d.rectangle(tab, fill=amber)
    font = ImageFont.load_default(size=max(10, int(40 * s)))
    d.text(((tab[0] + tab[2]) / 2, (tab[1] + tab[3]) / 2), "CV", fill=(30, 41, 59, 255), font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def read_image(path: Path) -> bytes:
    """The file's bytes, after checking that it is a PNG or JPEG image Pillow can decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UsageError(f"{path} is not an image Pillow can read ({exc})") from None
    if kind not in FORMATS:
        raise UsageError(f"{path} is a {kind} image; use a PNG or JPEG")
    return data


def request_body(image: bytes) -> dict[str, dict[str, str]]:
    return {"app_thumbnail": {"thumbnail": base64.b64encode(image).decode("ascii")}}


def upload(client: WorkspaceClient, app_name: str, image: bytes) -> Any:
    """PATCH the thumbnail through the SDK's authenticated API client (retries and auth are the SDK's)."""
    return client.api_client.do("PATCH", f"/api/2.0/apps/{app_name}/thumbnail", body=request_body(image))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="upload_thumbnail.py",
        description="Set the image shown on the Databricks Apps overview tile of a CV Explorer app.",
        epilog="Example: python resources/upload_thumbnail.py cv-explorer-dev --profile DEFAULT",
    )
    parser.add_argument("app_name", help="name of the deployed app (the bundle's app_name variable)")
    parser.add_argument("--image", type=Path,
                        help="PNG or JPEG to upload (default: an icon in client/public, else one drawn by this script)")
    parser.add_argument("--profile", help="~/.databrickscfg profile to authenticate with (default: the SDK's chain)")
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds the SDK may spend retrying before giving up (default 60)")
    parser.add_argument("--save", type=Path, help="also write the image that is uploaded to this file")
    parser.add_argument("--dry-run", action="store_true", help="prepare (and --save) the image, do not upload it")
    parser.add_argument("--verbose", action="store_true", help="log the SDK's requests (credentials are redacted)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not APP_NAME.match(args.app_name):
            raise UsageError(f"app name {args.app_name!r} must be lowercase letters, digits and hyphens")
        if args.image is not None:
            image, source = read_image(args.image), str(args.image)
        elif (icon := find_icon()) is not None:
            image, source = read_image(icon), str(icon.relative_to(ROOT))
        else:
            image, source = draw_icon(), "drawn by upload_thumbnail.py"
        if args.save is not None:
            args.save.write_bytes(image)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"dry run: would upload {len(image)} bytes ({source}) as the thumbnail of app {args.app_name!r}")
        return 0

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.errors import DatabricksError

    # The SDK warns on stderr when a workspace has no host-metadata document; only --verbose wants its chatter.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, format="%(name)s: %(message)s")
    try:
        client = WorkspaceClient(config=Config(profile=args.profile, retry_timeout_seconds=args.timeout))
    except ValueError as exc:
        print(f"error: no Databricks credentials: {exc}\nSet DATABRICKS_HOST and a token (or OAuth variables), "
              "or pass --profile.", file=sys.stderr)
        return 2
    try:
        upload(client, args.app_name, image)
    except DatabricksError as exc:
        print(f"error: the Apps API refused the thumbnail of app {args.app_name!r}: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:  # connection refused, DNS, TLS: requests' errors are OSErrors
        print(f"error: could not reach {client.config.host}: {exc}", file=sys.stderr)
        return 1
    print(f"thumbnail of app {args.app_name!r} updated: {len(image)} bytes ({source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
