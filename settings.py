"""Every setting, declared once: its environment variable, type, default, check and help text.

`Settings.from_env` reads them (an invalid value raises SettingsError naming the variable); the README's settings
table is generated from the same declarations (`python -m settings`), and tests/test_settings_table.py keeps it so.
A component with a default of its own (the import Limits, GraphQLLimits, the decode budget) is the one place that
default is written: its setting refers to it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from db.engine import SQLITE_SYNCHRONOUS
from db.lakebase import LakebaseSettings
from jobs.formats import Limits
from jobs.models.egress import AllowList
from schema.limits import GraphQLLimits
from volumes.images import DEFAULT_MAX_BYTES

UPLOADS_VOLUME = "/Volumes/local/cv_explorer/uploads"
DEFAULT_EXPORTS = "/Volumes/local/cv_explorer/exports"
AUTH_MODES = ("local", "token", "databricks")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use; the message names it."""


Parse = Callable[[str, str, Mapping[str, str]], Any]  # (variable, raw text, whole environment) -> value


@dataclass(frozen=True)
class Var:
    """One environment variable: what it means, how it is checked, and how the README shows its default."""

    env: str
    help: str
    default: Any = None  # for variables that are not a Settings field of their own (read by a field's parse)
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()
    case: Callable[[str], str] = str.strip  # applied to the text first (str.lower for case-free words)
    parse: Parse | None = None  # instead of the type's own reading; also given the default's text
    shown: str | None = None  # the default as the README shows it, when it is not the value itself


def var(env: str, default: Any, help: str, **how: Any) -> Any:
    """A Settings field read from `env` (a secret is never printed: `secret=True`)."""
    secret = how.pop("secret", False)
    spec = Var(env, help, **how)
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata={"var": spec}, repr=not secret)
    return field(default=default, metadata={"var": spec}, repr=not secret)


def derived(help_vars: tuple[Var, ...], default: Any) -> Any:
    """A Settings field computed from several variables (its parse reads them all); they are documented here."""
    factory = default if callable(default) and not isinstance(default, type) else None
    kwargs = {"default_factory": factory} if factory else {"default": default}
    return field(metadata={"vars": help_vars}, **kwargs)


# -- readers ---------------------------------------------------------------------------------------------------------

def _int(name: str, raw: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingsError(f"{name}={value} is outside {lo}..{hi}")
    return value


def _bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")


def _http_url(name: str, raw: str, env: Mapping[str, str] | None = None) -> str:
    url = raw.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={raw!r} must be an http:// or https:// URL")
    return url


def _folder(name: str, raw: str, env: Mapping[str, str]) -> Path:
    return Path(raw).expanduser().resolve()


def _workspace_host(name: str, raw: str, env: Mapping[str, str] | None = None) -> str:
    """DATABRICKS_HOST as a URL. The Apps platform sets it to the bare host name (`<workspace>.cloud.databricks.com`),
    elsewhere it is often the URL: both mean https://<host>."""
    value = raw.strip()
    if value and "://" not in value and not value.lower().startswith(("http:", "https:")):
        value = "https://" + value
    url = _http_url(name, value)
    host = url.split("://", 1)[1] if "://" in url else ""
    if url and (not host or "/" in host or " " in host):
        raise SettingsError(f"{name}={raw!r} must be the workspace's host name or URL, e.g. "
                            "https://<workspace>.cloud.databricks.com")
    return url


def _volume_name(name: str, raw: str, env: Mapping[str, str]) -> str:
    """A volume as `/Volumes/c/s/v` or the full name `c.s.v` (what an app's volume resource gives) → the path."""
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = value.split(".") if not value.startswith("/") else value.strip("/").split("/")[1:]
    if len(parts) != 3 or not all(parts) or (value.startswith("/") and not value.startswith("/Volumes/")):
        raise SettingsError(f"{name}={raw!r} must be a volume: /Volumes/<catalog>/<schema>/<volume> or "
                            "<catalog>.<schema>.<volume>")
    return "/Volumes/" + "/".join(parts)


def _volume_path(name: str, raw: str, env: Mapping[str, str]) -> str:
    path = raw.strip()
    if path and not path.startswith("/Volumes/"):
        raise SettingsError(f"{name}={raw!r} must be a path in a volume: /Volumes/<catalog>/<schema>/<volume>/…")
    return path


def _identifier(name: str, raw: str, env: Mapping[str, str] | None = None) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise SettingsError(f"{name}={raw!r} must be a lower-case SQL identifier (letters, digits, _)")
    return value


def _names(case: Callable[[str], str]) -> Parse:
    """A comma-separated list, each entry trimmed and normalised."""
    return lambda name, raw, env: tuple(case(x.strip()) for x in raw.split(",") if x.strip())


def _seconds(name: str, raw: str, lo: int, hi: int) -> float:
    return float(_int(name, raw, lo, hi))


def read(env: Mapping[str, str], spec: Var) -> Any:
    """One variable's value: its text (empty counts as unset, so its default), checked and converted."""
    raw = env.get(spec.env, "")
    if not raw.strip():
        if spec.parse is None:
            return spec.default
        raw = _text(spec.default)
    text = spec.case(raw)
    if spec.parse is not None:
        return spec.parse(spec.env, text, env)
    default = spec.default
    if isinstance(default, bool):
        return _bool(spec.env, text)
    if isinstance(default, int):
        return _int(spec.env, text, spec.lo, spec.hi)
    if isinstance(default, float):
        return _seconds(spec.env, text, spec.lo or 0, spec.hi or 10**9)
    if spec.choices and text not in spec.choices:
        raise SettingsError(f"{spec.env}={raw.strip()!r} must be one of {', '.join(spec.choices)}")
    return text


def _text(value: Any) -> str:
    """A default as it would be written in the environment ("" for one that a parse builds, like the mounts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value) if isinstance(value, str | int | float | Path) else ""


# -- variables read into composite fields ----------------------------------------------------------------------------

SERVING_FORMAT_VARS = (
    Var("SERVING_LABEL_KEY", "which key of each prediction holds the class (see *Pre-labelling with a model*)",
        default="label"),
    Var("SERVING_CONFIDENCE_KEY", "which key holds the confidence", default="confidence"),
    Var("SERVING_BBOX_KEY", "which key holds the box", default="bbox"),
    Var("SERVING_BBOX_FORMAT", "`xywh_norm` (normalised x, y, w, h) or `xyxy_pixel` (pixel corners)",
        default="xywh_norm", choices=("xywh_norm", "xyxy_pixel")),
)
SERVING_ENDPOINT_VARS = (
    Var("SERVING_ENDPOINT_URL", "a Databricks Model Serving invocation URL (called with `DATABRICKS_TOKEN`, or the "
        "app's OAuth credentials)", default="", parse=_http_url),
    Var("SERVING_ENDPOINT_NAME", "a serving endpoint on `DATABRICKS_HOST` (instead of `SERVING_ENDPOINT_URL`)",
        default=""),
)
LAKEBASE_VARS = (
    Var("PGHOST", "without `DATABASE_URL`: Lakebase, connected with fresh database credentials (needs "
        "`LAKEBASE_ENDPOINT` or `LAKEBASE_PROJECT_ID`); the platform sets the `PG*` variables for a database "
        "resource", default=""),
    Var("PGPORT", "Lakebase's port", default=5432, lo=1, hi=65535),
    Var("PGDATABASE", "Lakebase's database (`LAKEBASE_DATABASE` is read too)", default="databricks_postgres"),
    Var("PGUSER", "the Lakebase role (default: `DATABRICKS_CLIENT_ID`, the app's service principal)", default=""),
    Var("PGSSLMODE", "libpq's sslmode for Lakebase", default="require"),
    Var("LAKEBASE_ENDPOINT", "`projects/<p>/branches/<b>/endpoints/<e>`: the Lakebase endpoint every database "
        "credential is minted for (app.yml takes it with `valueFrom: database`); gives the host when `PGHOST` is "
        "not set", default=""),
    Var("LAKEBASE_PROJECT_ID", "without `LAKEBASE_ENDPOINT` (the worker job): the Lakebase project whose branch's "
        "read-write endpoint scopes the credentials (and gives the host without `PGHOST`)", default=""),
    Var("LAKEBASE_BRANCH_ID", "that project's branch", default="production"),
    Var("LAKEBASE_AUTO_PROVISION", "`true` creates a missing Lakebase project", default=False),
    Var("LAKEBASE_SCHEMA", "the PostgreSQL schema the tables live in", default="cv_explorer", parse=_identifier),
)
JOB_RUNNER_VARS = (
    Var("JOB_RUNNER", "`databricks`: jobs on projects of `JOB_RUNNER_MIN_ITEMS` samples or more run as runs of the "
        "Databricks Job `DATABRICKS_JOB_ID` (in a Databricks App without it: the job tagged "
        "`cv-explorer-app=<DATABRICKS_APP_NAME>`)", default="local", case=lambda s: s.strip().lower(),
        choices=("local", "databricks")),
    Var("DATABRICKS_JOB_ID", "the bundle's worker job", default=0, lo=1, hi=2**63),
    Var("JOB_RUNNER_MIN_ITEMS", "the project size from which jobs go to Databricks runs", default=10_000, lo=0,
        hi=10**9),
)


def _lakebase(name: str, raw: str, env: Mapping[str, str]) -> LakebaseSettings | None:
    """Lakebase when the platform injected PGHOST (a database resource), or LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID
    is set. Every password is a database credential minted for the endpoint, so one of those two must say which."""
    if env.get("DATABASE_URL"):
        return None
    v = {spec.env: read(env, spec) for spec in LAKEBASE_VARS}
    host, project, endpoint = v["PGHOST"], v["LAKEBASE_PROJECT_ID"], v["LAKEBASE_ENDPOINT"]
    if not host and not project and not endpoint:
        return None
    if not env.get("DATABRICKS_HOST", "").strip():
        raise SettingsError("Lakebase (PGHOST, LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID) needs DATABRICKS_HOST to "
                            "mint database credentials")
    if endpoint and not re.fullmatch(r"projects/[^/\s]+/branches/[^/\s]+/endpoints/[^/\s]+", endpoint):
        raise SettingsError(f"LAKEBASE_ENDPOINT={endpoint!r} must be projects/<project>/branches/<branch>/endpoints/"
                            "<endpoint> (app.yml gives it with valueFrom on the database resource)")
    if not endpoint and not project:
        raise SettingsError("PGHOST is set but LAKEBASE_ENDPOINT is not: Lakebase takes only a database credential "
                            "minted for its endpoint. In app.yml, set LAKEBASE_ENDPOINT with valueFrom: database (the "
                            "app's database resource); elsewhere set LAKEBASE_ENDPOINT or LAKEBASE_PROJECT_ID")
    user = v["PGUSER"] or env.get("DATABRICKS_CLIENT_ID", "").strip()
    if not user:
        raise SettingsError("Lakebase needs PGUSER (or DATABRICKS_CLIENT_ID, the app's service principal)")
    database = env.get("PGDATABASE", "").strip() or env.get("LAKEBASE_DATABASE", "").strip() or v["PGDATABASE"]
    return LakebaseSettings(user=user, host=host, port=v["PGPORT"], database=database, sslmode=v["PGSSLMODE"],
                            project_id=project, endpoint=endpoint, branch_id=v["LAKEBASE_BRANCH_ID"],
                            auto_provision=v["LAKEBASE_AUTO_PROVISION"], schema=v["LAKEBASE_SCHEMA"])


def _database_url(name: str, raw: str, env: Mapping[str, str]) -> str:
    data_dir = _folder("DATA_DIR", env.get("DATA_DIR", "").strip() or "./data", env)
    url = raw or ("postgresql+psycopg://lakebase" if _lakebase(name, raw, env) else
                  f"sqlite:///{data_dir / 'cv_explorer.db'}")
    if not url.startswith(("sqlite", "postgresql")):
        raise SettingsError(f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {url.split(':')[0]!r}")
    return url


def _mounts(name: str, raw: str, env: Mapping[str, str]) -> dict[str, Path]:
    data_dir = _folder("DATA_DIR", env.get("DATA_DIR", "").strip() or "./data", env)
    text = raw or f"/Volumes/local/cv_explorer/demo={data_dir / 'demo'};{DEFAULT_EXPORTS}={data_dir / 'exports'}"
    mounts: dict[str, Path] = {}
    for item in filter(None, (m.strip() for m in text.split(";"))):
        volume, sep, folder = item.partition("=")
        parts = volume.strip().strip("/").split("/")
        if not sep or len(parts) != 4 or parts[0] != "Volumes" or not all(parts) or not folder.strip():
            raise SettingsError(
                f"VOLUME_MOUNTS entry {item!r} must look like /Volumes/<catalog>/<schema>/<volume>=<local folder>")
        mounts["/" + "/".join(parts)] = Path(folder.strip()).expanduser().resolve()
    mounts.setdefault(UPLOADS_VOLUME, data_dir / "uploads")
    return mounts


def _port(name: str, raw: str, env: Mapping[str, str]) -> int:
    platform = env.get("DATABRICKS_APP_PORT", "").strip()
    return _int("DATABRICKS_APP_PORT", platform, 1, 65535) if platform else _int(name, raw, 1, 65535)


def _workers(name: str, raw: str, env: Mapping[str, str]) -> int:
    """WORKERS: a number, or `auto`, one process per core the machine gives the app (on Databricks, its compute
    size's). Processes share events through PostgreSQL's LISTEN/NOTIFY: with SQLite, `auto` is one process and a
    number above one is refused."""
    postgres = _database_url("DATABASE_URL", env.get("DATABASE_URL", "").strip(), env).startswith("postgresql")
    if raw.lower() == "auto":
        return _cores() if postgres else 1
    n = _int(name, raw, 1, 64)
    if n > 1 and not postgres:
        raise SettingsError(f"{name}={raw}: several server processes need PostgreSQL (DATABASE_URL, or Lakebase), "
                            "which carries live updates between them; SQLite is served by one process")
    return n


def _cores() -> int:
    """The cores this process may use: its CPU affinity, capped by its container's CPU quota (cgroup v2 `cpu.max`)
    when it has one, since a container often sees every core of its host but may use only its share."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def override(**values: str) -> None:
    """Set variables in this process's environment, which the processes it starts inherit: `serve --workers` (the
    command line wins) and the worker processes, which read their settings from the environment as it did."""
    os.environ.update(values)


def _allow_list(name: str, raw: str, env: Mapping[str, str]) -> AllowList:
    """MODEL_URL_ALLOW, and the workspace's own host (Model Serving): the platform names it, not a project's owner,
    and behind Private Link it resolves to a private address."""
    try:
        allowed = AllowList.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"MODEL_URL_ALLOW entry {exc}: use host names, IP addresses or CIDR networks "
                            "(e.g. localhost,10.0.0.0/8), comma-separated") from None
    host = urlsplit(_workspace_host("DATABRICKS_HOST", env.get("DATABRICKS_HOST", ""))).hostname
    return AllowList.parse(f"{raw},{host}") if host else allowed


def _serving_url(name: str, raw: str, env: Mapping[str, str]) -> str:
    """SERVING_ENDPOINT_URL, or the invocation URL of SERVING_ENDPOINT_NAME on DATABRICKS_HOST (an app resource)."""
    url, endpoint = (read(env, spec) for spec in SERVING_ENDPOINT_VARS)
    if url or not endpoint:
        return str(url)
    host = _workspace_host("DATABRICKS_HOST", env.get("DATABRICKS_HOST", ""))
    if not host:
        raise SettingsError("SERVING_ENDPOINT_NAME needs DATABRICKS_HOST (the workspace URL) to build its address")
    return f"{host}/serving-endpoints/{endpoint}/invocations"


def _serving_keys(name: str, raw: str, env: Mapping[str, str]) -> tuple[str, str, str, str]:
    label, confidence, bbox, fmt = (read(env, spec) for spec in SERVING_FORMAT_VARS)
    return label, confidence, bbox, fmt


def _job_runner(name: str, raw: str, env: Mapping[str, str]) -> tuple[str, int, int]:
    runner, job_id, min_items = (read(env, spec) for spec in JOB_RUNNER_VARS)
    if runner == "databricks" and not (env.get("DATABRICKS_HOST", "").strip() and (
            job_id or env.get("DATABRICKS_APP_NAME", "").strip())):
        raise SettingsError("JOB_RUNNER=databricks needs DATABRICKS_HOST and DATABRICKS_JOB_ID (the bundle's "
                            "worker job; a Databricks App finds it by its tag cv-explorer-app)")
    return runner, job_id, min_items


def _volumes_backend(name: str, raw: str, env: Mapping[str, str]) -> str:
    if raw not in ("local", "unity_catalog"):
        raise SettingsError(f"VOLUMES_BACKEND={raw!r} must be local or unity_catalog")
    if raw == "unity_catalog" and not env.get("DATABRICKS_HOST", "").strip():
        raise SettingsError("VOLUMES_BACKEND=unity_catalog needs DATABRICKS_HOST (the workspace URL, e.g. "
                            "https://<workspace>.cloud.databricks.com)")
    return raw


def _lower(s: str) -> str:
    return s.strip().lower()


# -- the settings ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """What the server runs with; `Settings()` is the embedded default, `Settings.from_env()` the environment's."""

    data_dir: Path = var("DATA_DIR", Path("./data"), "SQLite file, thumbnail cache, uploads, demo images",
                         parse=_folder, shown="`./data`")
    database_url: str = var("DATABASE_URL", "", "`sqlite:///…` or `postgresql://user@host:port/db` (psycopg 3)",
                            parse=_database_url, shown="`sqlite:///$DATA_DIR/cv_explorer.db`")
    volume_mounts: dict[str, Path] = var(
        "VOLUME_MOUNTS", {}, "`;`-separated `/Volumes/<catalog>/<schema>/<volume>=<local folder>`", parse=_mounts,
        shown="demo and exports folders under `DATA_DIR`")
    host: str = var("HOST", "127.0.0.1", "where `serve` listens")
    workers: int = var("WORKERS", 1, "server processes `serve` runs on one port (`serve --workers N` wins): a number, "
                       "or `auto` for one per core (a Databricks App's compute size). More than one needs "
                       "PostgreSQL", case=_lower, parse=_workers)
    port: int = var("PORT", 8000, "where `serve` listens; `DATABRICKS_APP_PORT` (set by the Apps platform) wins",
                    parse=_port)
    auth_mode: str = var("AUTH_MODE", "local", "`local`: one user (an instance admin), loopback only; `token`: users "
                         "sign in with a password or call with an API token (any `HOST`); `databricks`: the Databricks "
                         "Apps proxy names the user (refused outside the platform). See *Users, roles and review*",
                         case=_lower, choices=AUTH_MODES)
    log_level: str = var("LOG_LEVEL", "info", "`debug` also logs every HTTP request", case=_lower, choices=LOG_LEVELS)
    local_user: str = var("LOCAL_USER", "local", "the name the local user's work is recorded under")
    admin_users: tuple[str, ...] = var(
        "ADMIN_USERS", (), "`AUTH_MODE=databricks`: comma-separated e-mails (any case) or stable user ids "
        "(`X-Forwarded-User`) of instance admins, besides the users who may manage the app (read at start from its "
        "permissions: see *Deploy to Databricks*)", parse=_names(str.casefold))
    max_image_pixels: int = var("MAX_IMAGE_PIXELS", 100_000_000, "larger images get 413 TOO_LARGE instead of being "
                                "decoded (decompression bombs)", lo=1, hi=10**10)
    max_decode_bytes: int = var(
        "MAX_DECODE_BYTES", DEFAULT_MAX_BYTES, "memory one image decode may take, counted from its "
        "pixel mode before it starts; more gets 413 (see *Security and limits*)",
        lo=2**20, hi=2**40, shown="`268435456` (256 MiB)")
    decode_concurrency: int = var("DECODE_CONCURRENCY", 2, "image decodes (thumbnails, conversions) run at once by "
                                  "this process; more wait their turn", lo=1, hi=64)
    sample_lease_seconds: float = var("SAMPLE_LEASE_SECONDS", 600.0, "how long `claimNextSample` keeps a sample for "
                                      "its labeller", lo=10, hi=86400)
    job_concurrency: int = var("JOB_CONCURRENCY", 2, "jobs run at once by this process", lo=1, hi=64)
    job_lease_seconds: float = var("JOB_LEASE_SECONDS", 30.0, "a job whose worker stops renewing its lease this long "
                                   "is resumed by another", lo=3, hi=3600)
    spark_min_samples: int = var("SPARK_MIN_SAMPLES", 0, "pre-labelling, or an export's image copies and size reads, "
                                 "of this many samples or more fans out over Spark's executors where pyspark is at "
                                 "hand (a Databricks cluster, or the `spark` extra); `0`: never", lo=0, hi=2**63)
    spark_partition_samples: int = var("SPARK_PARTITION_SAMPLES", 2000, "samples per Spark partition: what one "
                                       "executor task labels and writes in one transaction, or copies", lo=1, hi=10**7)
    migrate_on_start: bool = var("MIGRATE_ON_START", True, "run the Alembic migrations when `serve` starts")
    run_jobs: bool = var("RUN_JOBS", True, "run the in-process job worker")
    seed_demo: bool = var("SEED_DEMO", True, "`false`: `server.py demo` (so `make run`) creates no demo images or "
                          "projects, for an instance that starts empty")
    import_max_bytes: int = var("IMPORT_MAX_BYTES", Limits.max_bytes, "largest import file or upload, and most bytes a "
                                "zip's or folder's label files may unpack to; bigger ones get TOO_LARGE before parsing",
                                lo=1, hi=2**40, shown="`209715200` (200 MiB)")
    import_max_items: int = var(
        "IMPORT_MAX_ITEMS", Limits.max_items, "most images one import may hold (a zip holds at most "
        "twice this many members)", lo=1, hi=10**8)
    import_max_annotations: int = var(
        "IMPORT_MAX_ANNOTATIONS", Limits.max_annotations, "most annotations one import may hold",
        lo=1, hi=10**9)
    import_max_row_bytes: int = var(
        "IMPORT_MAX_ROW_BYTES", Limits.max_row_bytes, "longest JSONL or YOLO line, and largest single "
        "COCO entry (one image, annotation or category)", lo=2**10, hi=2**30,
        shown="`1048576` (1 MiB)")
    model_path: str = var("MODEL_PATH", "", "an `.onnx` file in a volume: the local model (wins over the others)",
                          parse=_volume_path)
    model_classes: tuple[str, ...] = var("MODEL_CLASSES", (), "comma-separated class names, when the ONNX file has no "
                                         "`names` metadata", parse=_names(str.strip), shown="(from the model)")
    serving_url: str = derived(SERVING_ENDPOINT_VARS, "")
    serving_token: str = var("DATABRICKS_TOKEN", "", "a personal access token for `DATABRICKS_HOST` (Model Serving, "
                             "volumes, Jobs); never printed", secret=True)
    serving_keys: tuple[str, str, str, str] = derived(SERVING_FORMAT_VARS, ("label", "confidence", "bbox",
                                                                           "xywh_norm"))
    serving_request: str = var("SERVING_REQUEST", "image", "`image`: one record per image; `text_prompt`: a "
                               "text-prompted detector (SAM 3.x-like) gets one record per image and class and "
                               "answers pixel boxes (see *Pre-labelling with a model*)", case=_lower,
                               choices=("image", "text_prompt"))
    serving_image_max_side: int = var("SERVING_IMAGE_MAX_SIDE", 1024, "images go to Model Serving resized to this "
                                      "many pixels on their longer side (its requests stop at 16 MB)", lo=64, hi=4096)
    serving_timeout_seconds: int = var("SERVING_TIMEOUT_SECONDS", 600, "how long a busy or scaled-to-zero endpoint is "
                                       "waited for (see *Pre-labelling with a model*)", lo=1, hi=3600)
    model_backend_url: str = var("MODEL_BACKEND_URL", "", "a Label Studio ML backend that *Pre-label* sends images to",
                                 parse=_http_url)
    model_name: str = var("MODEL_NAME", "default", "drafts are recorded as `model:<name>`")
    model_url_allow: AllowList = var(
        "MODEL_URL_ALLOW", AllowList(), "comma-separated host names, IP addresses and CIDR networks a model URL may "
        "reach although they are private, loopback or link-local (e.g. `127.0.0.1` for a backend on this machine); "
        "`DATABRICKS_HOST`'s host is always allowed. See *Where a model may be*", parse=_allow_list)
    public_url: str = var("PUBLIC_URL", "", "the address the model uses to fetch images "
                          "(`/media/samples/<id>/image`); also an allowed `Origin` (see *Security and limits*)",
                          parse=_http_url,
                          shown="`http://HOST:PORT`")
    databricks_host: str = var("DATABRICKS_HOST", "", "the workspace, as a URL or a bare host name (what the Apps "
                               "platform sets; `https://` is assumed); with `DATABRICKS_TOKEN` or "
                               "`DATABRICKS_CLIENT_ID` / `DATABRICKS_CLIENT_SECRET` (OAuth) its credentials for "
                               "Serving, UC volumes, Jobs and Lakebase", parse=_workspace_host)
    databricks_client_id: str = var("DATABRICKS_CLIENT_ID", "", "the app's service principal (set by the platform)")
    databricks_client_secret: str = var("DATABRICKS_CLIENT_SECRET", "", "its OAuth secret (set by the platform); "
                                        "never printed", secret=True)
    databricks_app_name: str = var("DATABRICKS_APP_NAME", "", "set by the Apps platform: whose managers are instance "
                                   "admins (databricks mode), which worker job is the app's")
    source_volume: str = var("SOURCE_VOLUME", "", "where the folder browser starts (the app's images volume "
                             "resource), as `/Volumes/c/s/v` or `c.s.v`", parse=_volume_name)
    export_volume: str = var("EXPORT_VOLUME", "", "the default export destination and the home of each project's "
                             "export area (the app's export volume resource)", parse=_volume_name)
    lakebase: LakebaseSettings | None = derived(LAKEBASE_VARS, None)
    # these three are JOB_RUNNER_VARS, read and checked together by from_env
    job_runner: str = JOB_RUNNER_VARS[0].default
    databricks_job_id: int = JOB_RUNNER_VARS[1].default
    job_runner_min_items: int = JOB_RUNNER_VARS[2].default
    warehouse_id: str = var("DATABRICKS_WAREHOUSE_ID", "", "the SQL warehouse that lists the images of projects "
                            "made from a Unity Catalog table (the app's sql-warehouse resource; see *Projects from a "
                            "table*); empty: no table projects")
    volumes_backend: str = var("VOLUMES_BACKEND", "local", "`unity_catalog`: paths outside `VOLUME_MOUNTS` are Unity "
                               "Catalog volumes of `DATABRICKS_HOST` (see *Unity Catalog volumes*)", case=_lower,
                               parse=_volumes_backend)
    graphql_max_depth: int = var(
        "GRAPHQL_MAX_DEPTH", GraphQLLimits.max_depth, "field nesting, fragments expanded (the client's deepest "
        "query has 6)", lo=2, hi=100)
    graphql_max_aliases: int = var(
        "GRAPHQL_MAX_ALIASES", GraphQLLimits.max_aliases, "aliased fields in one document, fragments expanded "
        "(counted without expanding them)", lo=0, hi=100_000)
    graphql_max_tokens: int = var(
        "GRAPHQL_MAX_TOKENS", GraphQLLimits.max_tokens, "tokens in one document (the client's largest query has "
        "about 120)", lo=100, hi=10**7)
    max_page_size: int = var(
        "MAX_PAGE_SIZE", GraphQLLimits.max_page_size, "`first` on `Project.samples` and `jobs`, as a literal, a "
        "variable or a variable's default", lo=1, hi=100_000)
    graphql_max_cost: int = var(
        "GRAPHQL_MAX_COST", GraphQLLimits.max_cost, "the operation's cost, counted before it runs (see "
        "*Security and limits*; the client's costliest query, a gallery page, costs about 4,300)",
        lo=100, hi=10**9)
    max_request_bytes: int = var("MAX_REQUEST_BYTES", 4 * 2**20, "any request body but uploads (those have "
                                 "`IMPORT_MAX_BYTES`), and one websocket message", lo=2**10, hi=2**31,
                                 shown="`4194304` (4 MiB)")
    ws_max_subscriptions: int = var("WS_MAX_SUBSCRIPTIONS", 50, "operations open at once on one websocket (one more "
                                    "gets an `error` message with code `VALIDATION`; the socket stays open)",
                                    lo=1, hi=10_000)
    ws_init_timeout_seconds: int = var("WS_INIT_TIMEOUT_SECONDS", 10, "time between the websocket handshake and "
                                       "`connection_init` (then closed with 4408)", lo=1, hi=600)
    allowed_hosts: tuple[str, ...] = var("ALLOWED_HOSTS", (), "local mode: `Host` names served besides `localhost`, "
                                         "`127.0.0.1`, `::1`, `HOST` and `PUBLIC_URL`'s", parse=_names(_lower))
    request_body_timeout_seconds: float = var(
        "REQUEST_BODY_TIMEOUT_SECONDS", 30.0, "time for a request's whole body to arrive; an upload gets as long again "
        "for every `MAX_REQUEST_BYTES` it has sent (so it must average at least 4 MiB per 30 s)", lo=1, hi=3600)
    request_header_timeout_seconds: float = var(
        "REQUEST_HEADER_TIMEOUT_SECONDS", 10.0, "time for a request's headers to arrive, from the connection's "
        "opening (or the request's first byte on a kept-alive connection)", lo=1, hi=600)
    max_connections: int = var("MAX_CONNECTIONS", 1000, "HTTP connections and websockets open at once; a request "
                               "beyond it gets uvicorn's plain 503", lo=10, hi=1_000_000)
    sqlite_busy_timeout_seconds: float = var(
        "SQLITE_BUSY_TIMEOUT_SECONDS", 15.0, "how long a write waits for another process's lock on the SQLite file "
        "before it answers `UNAVAILABLE`", lo=1, hi=600)
    sqlite_synchronous: str = var("SQLITE_SYNCHRONOUS", "NORMAL", "`FULL`: every save is on disk before it is "
                                  "answered, at a third to a half of the save rate; see *Durability* under *Security "
                                  "and limits* for what a power cut can lose", case=lambda s: s.strip().upper(),
                                  choices=SQLITE_SYNCHRONOUS)

    @property
    def uploads_volume(self) -> str:
        """Where uploaded import files land before they are imported: with Unity Catalog and an export volume, a
        folder of that volume, so a Databricks Job run of the import reads the same file (the app container's disk
        is not the cluster's); otherwise the local uploads mount under the data dir."""
        if self.volumes_backend == "unity_catalog" and self.export_volume:
            return f"{self.export_volume}/uploads"
        return UPLOADS_VOLUME

    @property
    def export_areas(self) -> str:
        """The volume that holds each project's export area (`project-<id>`, where its owners may always export):
        EXPORT_VOLUME, else the default exports mount when it is mounted; none otherwise."""
        if self.export_volume:
            return self.export_volume
        return DEFAULT_EXPORTS if DEFAULT_EXPORTS in self.volume_mounts else ""

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting once; an invalid value raises SettingsError naming the variable."""
        env = os.environ if env is None else env
        values = {f.name: read(env, _spec(f)) for f in dataclasses.fields(Settings) if "var" in f.metadata}
        values["serving_url"] = _serving_url("SERVING_ENDPOINT_URL", "", env)
        values["serving_keys"] = _serving_keys("SERVING_LABEL_KEY", "", env)
        values["lakebase"] = _lakebase("PGHOST", "", env)
        values["job_runner"], values["databricks_job_id"], values["job_runner_min_items"] = _job_runner(
            "JOB_RUNNER", "", env)
        settings = Settings(**values)
        settings.check(env)
        return settings

    def check(self, env: Mapping[str, str]) -> None:
        """The rules between settings."""
        if self.auth_mode == "local" and not _is_loopback(self.host):
            raise SettingsError(f"HOST={self.host!r}: AUTH_MODE=local is single-user and listens on loopback only")
        if self.auth_mode == "databricks" and not (self.databricks_app_name and self.databricks_client_id):
            raise SettingsError("AUTH_MODE=databricks trusts identity headers that only the Databricks Apps proxy "
                                "sets, and DATABRICKS_APP_NAME / DATABRICKS_CLIENT_ID are absent: this is not a "
                                "Databricks App. On your own server use AUTH_MODE=token")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the README's table ----------------------------------------------------------------------------------------------

def _spec(f: dataclasses.Field[Any]) -> Var:
    """A field's variable, with the field's default."""
    default = f.default_factory() if callable(f.default_factory) else f.default
    return dataclasses.replace(f.metadata["var"], default=default)


def variables() -> Iterator[Var]:
    """Every variable, in the order the README lists them."""
    for f in dataclasses.fields(Settings):
        if "var" in f.metadata:
            yield _spec(f)
        yield from f.metadata.get("vars", ())
        if f.name == "job_runner":
            yield from JOB_RUNNER_VARS


def _shown(spec: Var) -> str:
    if spec.shown is not None:
        return spec.shown
    text = _text(spec.default)
    return f"`{text}`" if text else "(none)"


def table() -> str:
    rows = [f"| `{spec.env}` | {_shown(spec)} | {spec.help} |" for spec in variables()]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows])


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
