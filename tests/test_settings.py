"""Settings come from the environment once, with working defaults; a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import Database
from settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'cv_explorer.db'}"
    assert s.volume_mounts == {"/Volumes/local/cv_explorer/demo": tmp_path / "demo",
                               "/Volumes/local/cv_explorer/exports": tmp_path / "exports",
                               "/Volumes/local/cv_explorer/uploads": tmp_path / "uploads"}
    assert (s.import_max_bytes, s.import_max_items, s.import_max_annotations, s.import_max_row_bytes) == (
        200 * 2**20, 500_000, 2_000_000, 2**20)
    assert (s.host, s.port, s.auth_mode, s.log_level) == ("127.0.0.1", 8000, "local", "info")


def test_robustness_settings(tmp_path: Path) -> None:
    s = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert (s.request_body_timeout_seconds, s.request_header_timeout_seconds, s.max_connections) == (30, 10, 1000)
    assert (s.sqlite_busy_timeout_seconds, s.sqlite_synchronous) == (15, "NORMAL")
    s = Settings.from_env({"REQUEST_BODY_TIMEOUT_SECONDS": "5", "REQUEST_HEADER_TIMEOUT_SECONDS": "3",
                           "MAX_CONNECTIONS": "200", "SQLITE_BUSY_TIMEOUT_SECONDS": "2", "SQLITE_SYNCHRONOUS": "full"})
    assert (s.request_body_timeout_seconds, s.request_header_timeout_seconds, s.max_connections) == (5, 3, 200)
    assert (s.sqlite_busy_timeout_seconds, s.sqlite_synchronous) == (2, "FULL")


def test_sqlite_durability_and_busy_timeout_reach_every_connection(database_url: str) -> None:
    for mode, level in (("NORMAL", 1), ("FULL", 2)):
        db = Database(database_url, sqlite_busy_seconds=2.5, sqlite_synchronous=mode)
        try:
            with db.reading() as session:
                if db.is_sqlite:
                    assert session.execute(text("PRAGMA synchronous")).scalar() == level
                    assert session.execute(text("PRAGMA busy_timeout")).scalar() == 2500
                else:  # SQLite's settings; PostgreSQL commits durably whatever they say
                    assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
        finally:
            db.engine.dispose()


def test_databricks_port_wins_and_mounts_parse(tmp_path: Path) -> None:
    s = Settings.from_env({"PORT": "9000", "DATABRICKS_APP_PORT": "8080",
                           "VOLUME_MOUNTS": f"/Volumes/a/b/c={tmp_path};/Volumes/x/y/z={tmp_path}/z"})
    assert s.port == 8080
    assert s.volume_mounts == {"/Volumes/a/b/c": tmp_path, "/Volumes/x/y/z": tmp_path / "z",
                               "/Volumes/local/cv_explorer/uploads": Path.cwd().resolve() / "data" / "uploads"}


@pytest.mark.parametrize(("env", "variable"), [
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"DATABRICKS_APP_PORT": "x"}, "DATABRICKS_APP_PORT"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"VOLUME_MOUNTS": "/tmp/images"}, "VOLUME_MOUNTS"),
    ({"VOLUME_MOUNTS": "/Volumes/a/b=/tmp"}, "VOLUME_MOUNTS"),
    ({"AUTH_MODE": "magic"}, "AUTH_MODE"),
    ({"HOST": "0.0.0.0"}, "HOST"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"MAX_IMAGE_PIXELS": "0"}, "MAX_IMAGE_PIXELS"),
    ({"MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START"),
    ({"IMPORT_MAX_BYTES": "lots"}, "IMPORT_MAX_BYTES"),
    ({"IMPORT_MAX_ITEMS": "0"}, "IMPORT_MAX_ITEMS"),
    ({"IMPORT_MAX_ROW_BYTES": "100"}, "IMPORT_MAX_ROW_BYTES"),
    ({"MODEL_PATH": "/home/me/model.onnx"}, "MODEL_PATH"),
    ({"MODEL_BACKEND_URL": "model:9090"}, "MODEL_BACKEND_URL"),
    ({"SERVING_BBOX_FORMAT": "yolo"}, "SERVING_BBOX_FORMAT"),
    ({"REQUEST_BODY_TIMEOUT_SECONDS": "0"}, "REQUEST_BODY_TIMEOUT_SECONDS"),
    ({"REQUEST_HEADER_TIMEOUT_SECONDS": "soon"}, "REQUEST_HEADER_TIMEOUT_SECONDS"),
    ({"MAX_CONNECTIONS": "1"}, "MAX_CONNECTIONS"),
    ({"SQLITE_BUSY_TIMEOUT_SECONDS": "0"}, "SQLITE_BUSY_TIMEOUT_SECONDS"),
    ({"SQLITE_SYNCHRONOUS": "OFF"}, "SQLITE_SYNCHRONOUS"),
])
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_cli_help_and_config_error(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "server.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and all(cmd in out.stdout for cmd in ("serve", "migrate", "demo"))
    bad = subprocess.run([sys.executable, "server.py", "migrate"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PORT": "nope", "DATA_DIR": str(tmp_path)})
    assert bad.returncode == 2 and "PORT" in bad.stderr


def test_migrate_creates_a_fresh_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "not" / "yet" / "there"
    out = subprocess.run([sys.executable, "server.py", "migrate"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(data)})
    assert out.returncode == 0, out.stderr
    assert (data / "cv_explorer.db").exists()


def test_the_serving_token_is_never_printed() -> None:
    s = Settings.from_env({"SERVING_ENDPOINT_URL": "https://w.example.com/serving-endpoints/x/invocations",
                           "DATABRICKS_TOKEN": "dapi-very-secret"})
    assert s.serving_token == "dapi-very-secret" and "dapi-very-secret" not in repr(s)


def test_app_volume_resources_read_as_paths_whatever_form_they_come_in() -> None:
    s = Settings.from_env({"SOURCE_VOLUME": "main.images.raw", "EXPORT_VOLUME": "/Volumes/main/images/exports/"})
    assert (s.source_volume, s.export_volume) == ("/Volumes/main/images/raw", "/Volumes/main/images/exports")
    for bad in ("main.images", "/etc/passwd", "a..b", "/Volumes/a/b"):
        with pytest.raises(SettingsError, match="SOURCE_VOLUME"):
            Settings.from_env({"SOURCE_VOLUME": bad})


def test_the_databricks_job_runner_needs_its_job_and_workspace() -> None:
    with pytest.raises(SettingsError, match="DATABRICKS_JOB_ID"):
        Settings.from_env({"JOB_RUNNER": "databricks", "DATABRICKS_HOST": "https://w.cloud.databricks.com"})
    with pytest.raises(SettingsError, match="JOB_RUNNER='spark'"):
        Settings.from_env({"JOB_RUNNER": "spark"})
    s = Settings.from_env({"JOB_RUNNER": "databricks", "DATABRICKS_HOST": "https://w.cloud.databricks.com",
                           "DATABRICKS_JOB_ID": "77", "JOB_RUNNER_MIN_ITEMS": "500"})
    assert (s.job_runner, s.databricks_job_id, s.job_runner_min_items) == ("databricks", 77, 500)
    assert Settings.from_env({"SERVING_ENDPOINT_NAME": "yolo", "DATABRICKS_HOST": "https://w.x"}).serving_url == \
        "https://w.x/serving-endpoints/yolo/invocations"


def test_databricks_host_is_accepted_with_or_without_a_scheme() -> None:
    # The Apps platform injects the bare host name; a laptop's environment usually has the URL.
    for raw in ("adb-1.azuredatabricks.net", "https://adb-1.azuredatabricks.net/", " adb-1.azuredatabricks.net/ "):
        s = Settings.from_env({"DATABRICKS_HOST": raw, "SERVING_ENDPOINT_NAME": "yolo"})
        assert s.databricks_host == "https://adb-1.azuredatabricks.net"
        assert s.serving_url == "https://adb-1.azuredatabricks.net/serving-endpoints/yolo/invocations"
    assert Settings.from_env({"DATABRICKS_HOST": "http://127.0.0.1:8080"}).databricks_host == "http://127.0.0.1:8080"
    for bad in ("ftp://w.example.com", "w.example.com/some/path", "https://"):
        with pytest.raises(SettingsError, match="DATABRICKS_HOST"):
            Settings.from_env({"DATABRICKS_HOST": bad})


def test_the_workspace_host_is_a_model_location_without_being_listed(tmp_path: Path) -> None:
    """Model Serving lives on DATABRICKS_HOST, which the platform sets (behind Private Link, a private address)."""
    s = Settings.from_env({"DATA_DIR": str(tmp_path), "DATABRICKS_HOST": "adb-1.azuredatabricks.net",
                           "MODEL_URL_ALLOW": "10.0.0.0/8"})
    assert s.model_url_allow.names("adb-1.azuredatabricks.net") and not s.model_url_allow.names("example.com")
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).model_url_allow.hosts == frozenset()
