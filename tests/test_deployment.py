"""Deployment files: app.yml and the bundle (databricks.yml, resources/*.yml) are valid for the Databricks CLI, agree
with each other and with the names server.py reads; requirements.txt is what the pins say; the thumbnail uploader
and the worker grant script speak the workspace APIs' shapes.

The bundle is checked against the Databricks CLI's own JSON schema (bundle/schema/jsonschema.json of the CLI,
kept in tests/reference/), not against field lists written here; the CLI's rules that a schema cannot
express (production mode) are checked beside it. Nothing here reaches Databricks: the scripts talk to the local
emulator or a stand-in HTTP server on loopback.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from PIL import Image

import settings
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_apps import APPS_ROUTES, add_app, add_folder, readers_of

ROOT = Path(__file__).resolve().parent.parent
THUMBNAIL_SCRIPT = ROOT / "resources" / "upload_thumbnail.py"
GRANT_SCRIPT = ROOT / "resources" / "grant_worker.py"
# The CLI's schema (bundle/schema/jsonschema.json of databricks/cli, August 2026), kept in the repository so a bare
# clone checks the bundle; where ../shared/reference sits beside the checkout, the copy must match it.
BUNDLE_SCHEMA = ROOT / "tests" / "reference" / "databricks-bundle-schema.json"
SHARED_BUNDLE_SCHEMA = ROOT.parent / "shared" / "reference" / "databricks" / "bundle-schema.json"

# Set by the platform, never by app.yml: "Databricks Apps system environment",
# https://docs.databricks.com/aws/en/dev-tools/databricks-apps/system-env, and for a Lakebase database resource
# https://docs.databricks.com/aws/en/dev-tools/databricks-apps/lakebase (the PG* connection variables).
PLATFORM_ENV = {"DATABRICKS_APP_NAME", "DATABRICKS_WORKSPACE_ID", "DATABRICKS_HOST", "DATABRICKS_APP_PORT",
                "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
                "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE"}
APP_COMMAND = ["python", "server.py", "serve"]
# app.yml names only the serving process needs; every other one must reach the worker job with the same value.
APP_ONLY_ENV = {"AUTH_MODE", "ADMIN_USERS", "HOST", "JOB_RUNNER", "JOB_RUNNER_MIN_ITEMS", "WORKERS",
                "LAKEBASE_ENDPOINT"}  # the worker finds the endpoint from LAKEBASE_PROJECT_ID / LAKEBASE_BRANCH_ID
APP_KEY, WORKER_KEY = "cv_explorer", "cv_explorer_worker"
APP_SP = f"${{resources.apps.{APP_KEY}.service_principal_client_id}}"
DATABASE_KINDS = {"postgres", "database"}  # their connection settings are injected as PG*, not via valueFrom
REFERENCE = re.compile(r"\$\{([A-Za-z_][\w-]*(?:\.[\w-]+)*)\}")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# -- loading ---------------------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclasses.dataclass
class Bundle:
    root: dict[str, Any]
    files: dict[Path, dict[str, Any]]  # resources/*.yml, by path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for doc in [self.root, *self.files.values()]:
            for kind, items in (doc.get("resources") or {}).items():
                merged.setdefault(kind, {}).update(items or {})
        return merged

    def source_of(self, kind: str, key: str) -> Path:
        for path, doc in self.files.items():
            if key in ((doc.get("resources") or {}).get(kind) or {}):
                return path
        return ROOT / "databricks.yml"


def load_bundle() -> Bundle:
    root = load_yaml(ROOT / "databricks.yml")
    files = {}
    for pattern in root.get("include") or []:
        for path in sorted(ROOT.glob(pattern)):
            files[path] = load_yaml(path)
    return Bundle(root, files)


@pytest.fixture(scope="module")
def app_yml() -> dict[str, Any]:
    return load_yaml(ROOT / "app.yml")


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_bundle()


def the_app(bundle: Bundle) -> dict[str, Any]:
    apps_ = bundle.resources.get("apps") or {}
    assert list(apps_) == [APP_KEY], f"the bundle should declare exactly one app, {APP_KEY}, found {sorted(apps_)}"
    return apps_[APP_KEY]


def the_worker(bundle: Bundle) -> dict[str, Any]:
    jobs_ = bundle.resources.get("jobs") or {}
    assert list(jobs_) == [WORKER_KEY], f"the bundle should declare one job, {WORKER_KEY}, found {sorted(jobs_)}"
    return jobs_[WORKER_KEY]


def worker_env(job: dict[str, Any]) -> dict[str, str]:
    (task,) = job["tasks"]
    return task["new_cluster"]["spark_env_vars"]


# -- the CLI's JSON schema ---------------------------------------------------------------------------------------


def _python_pattern(pattern: str) -> str:
    """A CLI pattern in Python's re: the CLI writes the Unicode classes \\p{L} (a letter) and \\p{N} (a digit),
    which re lacks. Inside a set, [\\p{L}\\p{N}] is a letter or digit, [^\\W_]; alone, [^\\W\\d_] and \\d."""
    pattern = pattern.replace(r"[\p{L}\p{N}]", r"[^\W_]")
    return pattern.replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{N}", r"\d")


def _python_patterns(node: Any) -> Any:
    """The schema with every pattern made compilable by Python's re (see _python_pattern)."""
    if isinstance(node, dict):
        return {k: _python_pattern(v) if k == "pattern" else _python_patterns(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def test_kept_bundle_schema_is_the_shared_one() -> None:
    if not SHARED_BUNDLE_SCHEMA.is_file():
        pytest.skip(f"no shared reference beside the checkout ({SHARED_BUNDLE_SCHEMA}) to compare the kept copy with")
    assert BUNDLE_SCHEMA.read_bytes() == SHARED_BUNDLE_SCHEMA.read_bytes(), f"copy {SHARED_BUNDLE_SCHEMA} here"


@cache
def cli_schema() -> dict[str, Any]:
    return _python_patterns(json.loads(BUNDLE_SCHEMA.read_text(encoding="utf-8")))


def schema_problems(doc: Any, definition: str | None = None) -> list[str]:
    """What the CLI's schema says is wrong with a bundle file (or with a document of one of its definitions, named
    like `github.com/databricks/cli/bundle/config/resources.AppConfig`), one line per error, deepest first."""
    schema = cli_schema()
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(doc):
        # oneOf (an object, or a ${var.…} reference) hides the useful message one level down: report the leaves.
        leaves = [e for e in error.context if e.validator != "pattern" and e.validator != "type"] or [error]
        for leaf in leaves:
            where = "/".join(str(p) for p in leaf.absolute_path) or "(top)"
            problems.append(f"{where}: {leaf.message}")
    return problems


def app_yml_problems(app_yml: Any) -> list[str]:
    """app.yml against the schema of an app's `config` (the same settings; app.yml spells value_from valueFrom)."""
    doc = copy.deepcopy(app_yml)
    for item in doc.get("env") or [] if isinstance(doc, dict) else []:
        if isinstance(item, dict) and "valueFrom" in item:
            item["value_from"] = item.pop("valueFrom")
    return schema_problems(doc, "github.com/databricks/cli/bundle/config/resources.AppConfig")


def production_problems(bundle: Bundle) -> list[str]:
    """The CLI's rule for `mode: production` (bundle/config/mutator/process_target_mode.go): only one copy of the
    target may be deployed, so `workspace.root_path` must be set explicitly; and every job runs as a named
    identity (run_as on the job, the target or the bundle), not as whoever deploys."""
    problems = []
    for name, target in (bundle.root.get("targets") or {}).items():
        if (target or {}).get("mode") != "production":
            continue
        if not ((target.get("workspace") or {}).get("root_path") or
                (bundle.root.get("workspace") or {}).get("root_path")):
            problems.append(f"targets.{name}: mode production without workspace.root_path")
        top = target.get("run_as") or bundle.root.get("run_as")
        for key, job in (bundle.resources.get("jobs") or {}).items():
            if not (job.get("run_as") or top):
                problems.append(f"targets.{name}: job {key} has no run_as")
    return problems


# -- checks that return problems (so a test can also show they catch a one-sided rename) -------------------------


def value_from_problems(app_yml: dict[str, Any], app: dict[str, Any]) -> list[str]:
    """Every valueFrom names a resource of the app, and every non-database resource is used by a valueFrom."""
    declared = {r.get("name") for r in app.get("resources") or []}
    used = {e["valueFrom"] for e in app_yml.get("env") or [] if "valueFrom" in e}
    problems = [f"app.yml: valueFrom {v!r} names no resource of the app (declared: {sorted(declared)})"
                for v in sorted(used - declared)]
    for r in app.get("resources") or []:
        if r.get("name") not in used and not DATABASE_KINDS & set(r):
            problems.append(f"app resource {r.get('name')!r} is declared but no app.yml valueFrom uses it")
    return problems


def worker_env_problems(app_yml: dict[str, Any], app: dict[str, Any], job: dict[str, Any]) -> list[str]:
    """The worker job gets every setting the app has (except serving-only ones), with the same value."""
    env = worker_env(job)
    by_name = {r["name"]: r for r in app.get("resources") or []}
    problems = []
    for item in app_yml.get("env") or []:
        name = item["name"]
        if name in APP_ONLY_ENV:
            continue
        if name not in env:
            problems.append(f"worker job: {name} is set in app.yml but not in the job's spark_env_vars")
            continue
        if "value" in item:
            if str(env[name]) != item["value"]:
                problems.append(f"worker job: {name}={env[name]!r} differs from app.yml's {item['value']!r}")
            continue
        resource = by_name.get(item["valueFrom"], {})
        source = (resource.get("uc_securable", {}).get("securable_full_name")
                  or resource.get("serving_endpoint", {}).get("name") or resource.get("sql_warehouse", {}).get("id"))
        if source is None:
            problems.append(f"worker job: cannot tell which value {name} (valueFrom {item['valueFrom']!r}) has")
        elif str(env[name]) != str(source):
            problems.append(f"worker job: {name}={env[name]!r} but the app's {item['valueFrom']!r} resource "
                            f"uses {source!r}")
    for db in [r["postgres"] for r in app.get("resources") or [] if "postgres" in r]:
        for var, part in (("LAKEBASE_PROJECT_ID", "projects/"), ("LAKEBASE_BRANCH_ID", "/branches/")):
            if part + str(env.get(var)) not in str(db["branch"]):
                problems.append(f"worker job: {var}={env.get(var)!r} is not the app database's branch "
                                f"{db['branch']!r}")
    return problems


def strings(node: Any) -> Iterator[str]:
    """Every string in a loaded YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def reference_problems(bundle: Bundle) -> list[str]:
    """${var.*} are declared (and every declared variable is used); ${resources.*} point at declared resources."""
    declared = set(bundle.root.get("variables") or {})
    used: set[str] = set()
    problems = []
    for ref in (r for doc in [bundle.root, *bundle.files.values()] for s in strings(doc) for r in REFERENCE.findall(s)):
        head, _, rest = ref.partition(".")
        if head == "var":
            used.add(rest)
        elif head == "resources":
            kind, key, *_ = rest.split(".")
            if key not in bundle.resources.get(kind, {}):
                problems.append(f"${{{ref}}} points at resources.{kind}.{key}, which is not declared")
        elif head not in {"bundle", "workspace"}:
            problems.append(f"${{{ref}}}: unknown substitution")
    problems += [f"${{var.{v}}} is used but not declared under variables" for v in sorted(used - declared)]
    problems += [f"variable {v!r} is declared but never used" for v in sorted(declared - used)]
    for target, spec in (bundle.root.get("targets") or {}).items():
        problems += [f"targets.{target}.variables.{v} overrides an undeclared variable"
                     for v in (spec or {}).get("variables") or {} if v not in declared]
    return problems


# -- the schema checks, and proof that they can fail --------------------------------------------------------------


def test_bundle_files_follow_the_clis_schema(bundle: Bundle) -> None:
    assert schema_problems(bundle.root) == []
    for path, doc in bundle.files.items():
        assert schema_problems(doc) == [], path.name


def test_app_yml_follows_the_schema_of_an_apps_config(app_yml: dict[str, Any]) -> None:
    assert app_yml_problems(app_yml) == []
    assert app_yml["command"] == APP_COMMAND
    names = [item["name"] for item in app_yml["env"]]
    assert len(names) == len(set(names)), f"app.yml sets a variable twice: {names}"
    for item in app_yml["env"]:
        assert ("value" in item) != ("valueFrom" in item), f"{item['name']}: give exactly one of value, valueFrom"


def test_python_patterns_match_what_the_clis_patterns_match() -> None:
    reference = re.compile(_python_pattern(r"\$\{(var(\.\p{L}+([-_]*[\p{L}\p{N}]+)*(\[[0-9]+\])*)+)\}"))
    for good in ("${var.app_name}", "${var.éte2}", "${var.a-b.c[0]}"):
        assert reference.fullmatch(good), good
    for bad in ("${var.}", "${var.2a}", "${var.a-}", "${var.a b}", "${var._a}"):
        assert not reference.fullmatch(bad), bad


def test_the_production_target_is_one_the_cli_accepts(bundle: Bundle) -> None:
    assert production_problems(bundle) == []
    targets = bundle.root["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"].get("default") is True
    assert targets["prod"]["mode"] == "production"


def test_broken_bundles_are_caught(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """The checks above can fail: misspelt fields, values outside an enum, a production target without root_path."""
    app_file = bundle.source_of("apps", APP_KEY)
    job_file = bundle.source_of("jobs", WORKER_KEY)
    broken: list[tuple[str, dict[str, Any], str]] = []

    doc = copy.deepcopy(bundle.files[app_file])
    doc["resources"]["apps"][APP_KEY]["source_code_pth"] = ".."
    broken.append(("misspelt app field", doc, "source_code_pth"))
    doc = copy.deepcopy(bundle.files[app_file])
    doc["resources"]["apps"][APP_KEY]["resources"][0]["postgres"]["permission"] = "CAN_READ"
    broken.append(("permission outside its enum", doc, "CAN_READ"))
    doc = copy.deepcopy(bundle.files[job_file])
    doc["resources"]["jobs"][WORKER_KEY]["tasks"][0]["spark_python_task"]["python_fil"] = "x.py"
    broken.append(("misspelt task field", doc, "python_fil"))
    doc = copy.deepcopy(bundle.files[job_file])
    doc["resources"]["jobs"][WORKER_KEY]["max_concurrent_runs"] = "four"
    broken.append(("a number as words", doc, "four"))
    doc = copy.deepcopy(bundle.root)
    doc["targets"]["prod"]["workspace"]["rootpath"] = "/Workspace/x"
    broken.append(("misspelt workspace field", doc, "rootpath"))
    doc = copy.deepcopy(bundle.files[job_file])
    doc["resources"]["jobs"][WORKER_KEY]["max_concurrent_runs"] = "${var.workers-}"
    broken.append(("a malformed reference", doc, "workers-"))
    doc = copy.deepcopy(bundle.root)
    doc["variables"]["app_name"]["defualt"] = "x"
    broken.append(("misspelt variable field", doc, "defualt"))
    for what, doc, word in broken:
        problems = schema_problems(doc)
        assert problems and any(word in p for p in problems), (what, problems)

    wrong_yml = copy.deepcopy(app_yml)
    wrong_yml["env"][0]["value_form"] = "database"
    assert any("value_form" in p for p in app_yml_problems(wrong_yml))
    no_root = copy.deepcopy(bundle)
    del no_root.root["targets"]["prod"]["workspace"]
    no_run_as = copy.deepcopy(bundle)
    for doc in no_run_as.files.values():
        for job in ((doc.get("resources") or {}).get("jobs") or {}).values():
            job.pop("run_as", None)
    assert production_problems(no_root) == ["targets.prod: mode production without workspace.root_path"]
    assert production_problems(no_run_as) == [f"targets.prod: job {WORKER_KEY} has no run_as"]


# -- app.yml, the app and the worker job agree ---------------------------------------------------------------------


def test_app_yml_leaves_platform_variables_to_the_platform(app_yml: dict[str, Any]) -> None:
    assert {e["name"] for e in app_yml["env"]} & PLATFORM_ENV == set()
    for item in app_yml["env"]:
        assert ENV_NAME.match(item["name"])
        if "value" in item:  # YAML turns unquoted false / 10000 into bool / int; the platform takes strings
            assert isinstance(item["value"], str), f"{item['name']}: quote the value {item['value']!r}"


def test_value_from_matches_the_apps_resources(app_yml: dict[str, Any], bundle: Bundle) -> None:
    assert value_from_problems(app_yml, the_app(bundle)) == []


def test_lakebase_credentials_are_scoped_by_the_database_resource(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """The database resource's valueFrom is its endpoint: the app mints every password for it."""
    [db] = [r for r in the_app(bundle)["resources"] if "postgres" in r]
    assert {"name": "LAKEBASE_ENDPOINT", "valueFrom": db["name"]} in app_yml["env"]


def test_export_volume_is_writable_and_source_volume_readable(app_yml: dict[str, Any], bundle: Bundle) -> None:
    by_name = {r["name"]: r for r in the_app(bundle)["resources"]}
    value_from = {e["name"]: e["valueFrom"] for e in app_yml["env"] if "valueFrom" in e}
    export = by_name[value_from["EXPORT_VOLUME"]]["uc_securable"]
    source = by_name[value_from["SOURCE_VOLUME"]]["uc_securable"]
    assert (export["securable_type"], export["permission"]) == ("VOLUME", "WRITE_VOLUME")
    assert (source["securable_type"], source["permission"]) == ("VOLUME", "READ_VOLUME")


def test_table_projects_use_the_apps_sql_warehouse(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """DATABRICKS_WAREHOUSE_ID is the sql_warehouse resource's id, which the app's service principal may use; the
    worker job gets the same warehouse."""
    by_name = {r["name"]: r for r in the_app(bundle)["resources"]}
    value_from = {e["name"]: e["valueFrom"] for e in app_yml["env"] if "valueFrom" in e}
    warehouse = by_name[value_from["DATABRICKS_WAREHOUSE_ID"]]["sql_warehouse"]
    assert warehouse["permission"] == "CAN_USE"
    assert worker_env(the_worker(bundle))["DATABRICKS_WAREHOUSE_ID"] == warehouse["id"]


def test_the_app_may_read_who_manages_it(bundle: Bundle) -> None:
    """Its managers are its instance admins (resolvers/app_managers.py): its service principal reads the list."""
    assert {"level": "CAN_MANAGE", "service_principal_name": APP_SP} in the_app(bundle)["permissions"]


def test_env_names_are_read_by_server(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """Each name app.yml or the worker job sets is a declared setting (settings.py), so the server reads it."""
    names = {e["name"] for e in app_yml["env"]} | set(worker_env(the_worker(bundle)))
    declared = {v.env for v in settings.variables()} | {"DATABRICKS_APP_PORT", "LAKEBASE_DATABASE"}
    assert names - declared == set()


def test_variables_used_are_declared_and_references_resolve(bundle: Bundle) -> None:
    assert reference_problems(bundle) == []
    for pattern in bundle.root["include"]:
        assert list(ROOT.glob(pattern)), f"include {pattern!r} matches no file"


def test_client_build_is_synced_although_git_ignored(bundle: Bundle) -> None:
    # Bundle sync skips git-ignored files, and client/dist is git-ignored: without this the app serves no SPA.
    assert "client/dist/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "client/dist/**" in bundle.root["sync"]["include"]


def test_app_source_is_the_bundle_root_without_config(bundle: Bundle) -> None:
    app = the_app(bundle)
    assert "config" not in app, "`config` would overwrite app.yml on deploy; keep command and env in app.yml"
    source = (bundle.source_of("apps", APP_KEY).parent / app["source_code_path"]).resolve()
    assert source == ROOT and (source / "app.yml").is_file() and (source / "requirements.txt").is_file()


def test_the_worker_runs_as_the_apps_service_principal(app_yml: dict[str, Any], bundle: Bundle) -> None:
    job = the_worker(bundle)
    assert job["run_as"] == {"service_principal_name": APP_SP}
    assert {"level": "CAN_MANAGE_RUN", "service_principal_name": APP_SP} in job["permissions"]
    assert job["tags"]["cv-explorer-app"] == the_app(bundle)["name"]  # how the app finds it
    env = worker_env(job)
    assert env["PGUSER"] == APP_SP and env["DATABRICKS_HOST"] == "${workspace.host}"
    assert Path(env["DATA_DIR"]).is_absolute()  # the task's working directory is the synced source: no caches there
    assert worker_env_problems(app_yml, the_app(bundle), job) == []


def test_the_worker_leaves_the_runtimes_packages_alone(bundle: Bundle) -> None:
    """No cluster libraries (they would replace the runtime's numpy and protobuf): the task builds its own
    virtualenv from requirements.txt, on a runtime whose Python is the one pyproject.toml requires."""
    job = the_worker(bundle)
    (task,) = job["tasks"]
    assert "libraries" not in task and "environment_key" not in task
    spt = task["spark_python_task"]
    script = (bundle.source_of("jobs", WORKER_KEY).parent / spt["python_file"]).resolve()
    assert script == ROOT / "resources" / "worker_task.py"
    (param,) = [p["name"] for p in job["parameters"]]
    assert spt["parameters"] == ["--job-id", f"{{{{job.parameters.{param}}}}}"]
    assert bundle.root["variables"]["worker_spark_version"]["default"].startswith("15.4.")  # Python 3.11
    assert "<3.12" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_a_rename_on_one_side_only_is_caught(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """The consistency checks above really depend on both sides: rename things on one side and they complain."""
    app, job = the_app(bundle), the_worker(bundle)
    renamed_resource = copy.deepcopy(app)
    next(r for r in renamed_resource["resources"] if r["name"] == "export-volume")["name"] = "exports"
    assert value_from_problems(app_yml, renamed_resource)
    renamed_value_from = copy.deepcopy(app_yml)
    next(e for e in renamed_value_from["env"] if e["name"] == "SERVING_ENDPOINT_NAME")["valueFrom"] = "serving"
    assert value_from_problems(renamed_value_from, app)
    other_volume = copy.deepcopy(job)
    worker_env(other_volume)["SOURCE_VOLUME"] = "${var.export_volume}"
    assert worker_env_problems(app_yml, app, other_volume)
    renamed_app = copy.deepcopy(bundle)
    for doc in renamed_app.files.values():
        apps_ = (doc.get("resources") or {}).get("apps")
        if apps_:
            apps_["explorer"] = apps_.pop(APP_KEY)
    assert any("resources.apps." in p for p in reference_problems(renamed_app))
    renamed_var = copy.deepcopy(bundle)
    renamed_var.root["variables"]["images_volume"] = renamed_var.root["variables"].pop("source_volume")
    assert reference_problems(renamed_var)


# -- requirements.txt: what the platform installs ---------------------------------------------------------------


def test_requirements_txt_is_generated_from_the_pins() -> None:
    """The Apps platform installs requirements.txt alone: it must be today's pins (tests/test_deploy_rehearsal.py
    installs it into an empty virtualenv and starts the app from it)."""
    done = subprocess.run([sys.executable, str(ROOT / "resources" / "requirements.py")], capture_output=True,
                          text=True, check=True)
    assert (ROOT / "requirements.txt").read_text(encoding="utf-8") == done.stdout, \
        "requirements.txt is stale: .venv/bin/python resources/requirements.py > requirements.txt"
    pinned = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9-]+==[\w.]+", line) for line in pinned)
    assert {"strawberry-graphql", "databricks-sdk", "psycopg-binary", "uvloop"} <= {p.split("==")[0] for p in pinned}
    assert not {"pytest", "ruff", "playwright"} & {p.split("==")[0] for p in pinned}


# -- the worker grant script against the emulator ------------------------------------------------------------------


def test_grant_worker_lets_the_apps_service_principal_read_the_bundle_files(databricks: DatabricksEmulator,
                                                                            tmp_path: Path) -> None:
    databricks.add_routes(APPS_ROUTES)
    add_app(databricks, "cv-explorer-dev", {}, {}, client_id="app-sp-id")
    files = "/Workspace/Users/me@example.com/.bundle/cv-explorer/dev/files"
    add_folder(databricks, files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.update(DATABRICKS_HOST=databricks.url, DATABRICKS_TOKEN=databricks.token, HOME=str(tmp_path),
               DATABRICKS_CONFIG_FILE=str(tmp_path / "no.databrickscfg"))
    args = [sys.executable, str(GRANT_SCRIPT), "--app", "cv-explorer-dev", "--files", files]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert readers_of(databricks, files) == {"app-sp-id"} and "app-sp-id" in done.stdout
    missing = subprocess.run([*args[:3], "nope", *args[4:]], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


# -- the thumbnail uploader against a stand-in Apps API on loopback -----------------------------------------------


class FakeApps:
    """Records requests; answers PATCH /api/2.0/apps/<name>/thumbnail as configured, everything else 404."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.reply: dict[str, Any] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                      "body": body})
                if self.command == "PATCH" and re.fullmatch(r"/api/2\.0/apps/[a-z0-9-]+/thumbnail", self.path):
                    status, payload = fake.status, fake.reply or json.loads(body)["app_thumbnail"]
                else:
                    status, payload = 404, {"error_code": "NOT_FOUND", "message": "no such endpoint"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def api_calls(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith("/api/")]


@pytest.fixture
def fake_apps() -> Iterator[FakeApps]:
    fake = FakeApps()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def run_uploader(args: list[str], host: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "ARM_", "GOOGLE_"))}
    env.update(DATABRICKS_HOST=host, DATABRICKS_TOKEN="dapi-test-token", HOME=str(tmp_path),
               DATABRICKS_CONFIG_FILE=str(tmp_path / "no.databrickscfg"))
    return subprocess.run([sys.executable, str(THUMBNAIL_SCRIPT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_thumbnail_upload_sends_the_documented_request(fake_apps: FakeApps, tmp_path: Path) -> None:
    image = tmp_path / "tile.png"
    image.write_bytes(png_bytes())
    done = run_uploader(["cv-explorer-dev", "--image", str(image)], fake_apps.url, tmp_path)
    assert done.returncode == 0, done.stderr
    (call,) = fake_apps.api_calls()
    assert (call["method"], call["path"]) == ("PATCH", "/api/2.0/apps/cv-explorer-dev/thumbnail")
    assert call["headers"]["Content-Type"].startswith("application/json")
    assert call["headers"]["Authorization"] == "Bearer dapi-test-token"
    assert json.loads(call["body"]) == {"app_thumbnail": {"thumbnail": base64.b64encode(image.read_bytes()).decode()}}
    assert "cv-explorer-dev" in done.stdout


def test_thumbnail_without_image_uses_the_clients_icon_or_draws_one(fake_apps: FakeApps, tmp_path: Path) -> None:
    done = run_uploader(["cv-explorer"], fake_apps.url, tmp_path)
    assert done.returncode == 0, done.stderr
    (call,) = fake_apps.api_calls()
    sent = base64.b64decode(json.loads(call["body"])["app_thumbnail"]["thumbnail"])
    icons = [p for p in (ROOT / "client" / "public").glob("*.png")] if (ROOT / "client" / "public").is_dir() else []
    if icons:
        assert sent in {p.read_bytes() for p in icons}
    else:
        with Image.open(io.BytesIO(sent)) as img:
            assert (img.format, img.size) == ("PNG", (512, 512))


def test_thumbnail_api_error_is_reported(fake_apps: FakeApps, tmp_path: Path) -> None:
    fake_apps.status = 404
    fake_apps.reply = {"error_code": "RESOURCE_DOES_NOT_EXIST",
                       "message": "App with name cv-explorer-x does not exist."}
    image = tmp_path / "tile.png"
    image.write_bytes(png_bytes())
    done = run_uploader(["cv-explorer-x", "--image", str(image)], fake_apps.url, tmp_path)
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_thumbnail_rejects_bad_input_before_any_request(fake_apps: FakeApps, tmp_path: Path) -> None:
    helped = run_uploader(["--help"], fake_apps.url, tmp_path)
    assert helped.returncode == 0 and "thumbnail" in helped.stdout
    not_image = tmp_path / "notes.txt"
    not_image.write_text("not an image")
    gif = tmp_path / "tile.gif"
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    for args in (["Not_An_App"], ["cv-explorer", "--image", str(not_image)], ["cv-explorer", "--image", str(gif)],
                 ["cv-explorer", "--image", str(tmp_path / "missing.png")]):
        done = run_uploader(args, fake_apps.url, tmp_path)
        assert done.returncode == 2 and done.stderr.startswith("error: "), (args, done.stderr)
    assert fake_apps.api_calls() == []


# -- the worker task's launcher -------------------------------------------------------------------------------------


def test_the_worker_task_hands_the_runtimes_credentials_to_the_worker(tmp_path: Path) -> None:
    """On a cluster the run-as identity's token comes from the runtime's notebook context (a stand-in module here);
    the runtime's PYTHONPATH stays out of the worker; credentials already in the environment win."""
    runtime = tmp_path / "runtime" / "dbruntime"
    runtime.mkdir(parents=True)
    (runtime / "__init__.py").write_text("")
    (runtime / "databricks_repl_context.py").write_text(
        "class _Ctx:\n    apiToken = 'runtime-token'\n    workspaceUrl = 'adb-1.azuredatabricks.net'\n"
        "def get_context():\n    return _Ctx()\n")
    probe = ("import json, sys; sys.path.insert(0, 'resources'); import worker_task; "
             "print(json.dumps(worker_task.worker_env(json.loads(sys.argv[1]))))")

    def env_of(given: dict[str, str]) -> dict[str, str]:
        done = subprocess.run([sys.executable, "-c", probe, json.dumps(given)], cwd=ROOT, capture_output=True,
                              text=True, check=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "runtime")})
        return json.loads(done.stdout)

    got = env_of({"PGUSER": "sp", "PYTHONPATH": "/databricks/spark/python"})
    assert got == {"PGUSER": "sp", "DATABRICKS_TOKEN": "runtime-token", "DATABRICKS_HOST": "adb-1.azuredatabricks.net"}
    assert env_of({"DATABRICKS_TOKEN": "given", "DATABRICKS_HOST": "h"}) == {"DATABRICKS_TOKEN": "given",
                                                                              "DATABRICKS_HOST": "h"}
