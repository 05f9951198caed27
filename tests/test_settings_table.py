"""Settings are declared once (settings.py): the README's table is generated from the declarations, every variable
the code reads is declared, and a default is the same whether it comes from `Settings()` or an empty environment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import settings
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESOLVED_FROM_DATA_DIR = {"data_dir", "database_url", "volume_mounts"}  # Settings() keeps them relative / empty


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings.table() in readme, "README's settings table is stale: paste `python -m settings` into it"


def test_every_variable_read_is_declared_once() -> None:
    declared = [v.env for v in settings.variables()]
    assert len(declared) == len(set(declared)), "a variable is declared twice"
    read = set(re.findall(r"""env\.get\(["']([A-Z_]+)["']""", (ROOT / "settings.py").read_text()))
    aliases = {"DATABRICKS_APP_PORT", "LAKEBASE_DATABASE"}  # documented in the help of PORT and PGDATABASE
    assert read - set(declared) - aliases == set()
    assert not re.search(r"os\.environ|getenv", (ROOT / "server.py").read_text()), "server.py reads no variable"


def test_an_empty_environment_gives_the_declared_defaults() -> None:
    from_env, built = Settings.from_env({}), Settings()
    for f in dataclasses.fields(Settings):
        if f.name not in RESOLVED_FROM_DATA_DIR:
            assert getattr(from_env, f.name) == getattr(built, f.name), f.name
    assert from_env.data_dir == Path("./data").resolve()


def test_an_empty_value_means_the_default_and_a_bad_one_names_its_variable() -> None:
    assert Settings.from_env({"PORT": " ", "JOB_CONCURRENCY": ""}).port == 8000
    for env, named in [({"JOB_CONCURRENCY": "many"}, "JOB_CONCURRENCY"), ({"MAX_PAGE_SIZE": "0"}, "MAX_PAGE_SIZE"),
                       ({"RUN_JOBS": "perhaps"}, "RUN_JOBS"), ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
                       ({"SERVING_BBOX_FORMAT": "cxcywh"}, "SERVING_BBOX_FORMAT"), ({"PGPORT": "x", "PGHOST": "h"},
                                                                                    "PGPORT")]:
        try:
            Settings.from_env({"DATABRICKS_HOST": "w.example.com", **env})
        except settings.SettingsError as exc:
            assert named in str(exc), (env, str(exc))
        else:
            raise AssertionError(f"{env} was accepted")
