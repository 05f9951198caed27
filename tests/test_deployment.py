"""Deployment files: app.yml and the bundle (databricks.yml, resources/*.yml) hold only fields the platform accepts,
agree with each other and with the names server.py reads; the thumbnail uploader speaks the Apps API's shape.

Nothing here reaches Databricks: the field sets below are written down from the documentation and the bundle
schema (cited next to each), cross-checked against the pinned databricks-sdk (generated from the same REST API
specification), and the thumbnail request goes to a stand-in HTTP server on loopback.
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
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.sdk.service import apps, compute, jobs
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server.py"
THUMBNAIL_SCRIPT = ROOT / "resources" / "upload_thumbnail.py"

# -- what the platform accepts ---------------------------------------------------------------------------------
# app.yaml / app.yml: "Configure Databricks app execution with app.yaml",
# https://docs.databricks.com/aws/en/dev-tools/databricks-apps/app-runtime (settings `command`, `env`; an env item is
# `name` plus `value` or `valueFrom`), and https://docs.databricks.com/aws/en/dev-tools/databricks-apps/environment-variables
# (`valueFrom` names a resource key declared on the app).
APP_YML_KEYS = {"command", "env"}
APP_ENV_KEYS = {"name", "value", "valueFrom"}
# Set by the platform, never by app.yml: "Databricks Apps system environment",
# https://docs.databricks.com/aws/en/dev-tools/databricks-apps/system-env, and for a Lakebase database resource
# https://docs.databricks.com/aws/en/dev-tools/databricks-apps/lakebase (the PG* connection variables).
PLATFORM_ENV = {"DATABRICKS_APP_NAME", "DATABRICKS_WORKSPACE_ID", "DATABRICKS_HOST", "DATABRICKS_APP_PORT",
                "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
                "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE"}

# Bundle configuration: the JSON schema the Databricks CLI validates bundles with,
# https://github.com/databricks/cli/blob/main/bundle/schema/jsonschema.json (root `properties`; `config.Bundle`,
# `variable.Variable`, `config.Target`, `config.Sync`, `config.Resources`, `resources.App`, `resources.Job`),
# documented at https://docs.databricks.com/aws/en/dev-tools/bundles/settings and .../bundles/resources.
BUNDLE_ROOT_KEYS = {"artifacts", "bundle", "experimental", "include", "permissions", "presets", "python",
                    "resources", "run_as", "scripts", "sync", "targets", "variables", "workspace"}
BUNDLE_KEYS = {"name", "databricks_cli_version", "cluster_id", "compute_id", "deployment", "git", "uuid"}
VARIABLE_KEYS = {"default", "description", "lookup", "type"}
TARGET_KEYS = {"artifacts", "bundle", "cluster_id", "compute_id", "default", "git", "mode", "permissions",
               "presets", "resources", "run_as", "sync", "variables", "workspace"}
TARGET_MODES = {"development", "production"}
SYNC_KEYS = {"include", "exclude", "paths"}
RESOURCE_TYPES = {"alerts", "apps", "catalogs", "clusters", "dashboards", "database_catalogs", "database_instances",
                  "experiments", "external_locations", "jobs", "model_serving_endpoints", "models", "pipelines",
                  "postgres_branches", "postgres_endpoints", "postgres_projects", "quality_monitors",
                  "registered_models", "schemas", "secret_scopes", "sql_warehouses", "synced_database_tables",
                  "volumes"}
# resources.App (`name` and `source_code_path` required; `config` would overwrite app.yml on deploy:
# bundle/apps/upload_config.go in the same repository).
APP_KEYS = {"budget_policy_id", "compute_size", "config", "description", "git_repository", "git_source",
            "lifecycle", "name", "permissions", "resources", "source_code_path", "space", "usage_policy_id",
            "user_api_scopes"}
BUNDLE_ONLY_KEYS = {"config", "lifecycle", "permissions"}  # added by the bundle, not fields of the REST objects

# App resources: the Apps REST API's AppResource (https://docs.databricks.com/api/workspace/apps/create,
# "resources"), the same `apps.AppResource*` definitions in the bundle schema, and "Add resources to a Databricks
# app" (https://docs.databricks.com/aws/en/dev-tools/databricks-apps/resources) for the permissions.
APP_RESOURCE_KEYS = {"name", "description", "app", "database", "experiment", "genie_space", "job", "postgres",
                     "secret", "serving_endpoint", "sql_warehouse", "uc_securable"}
APP_RESOURCE_KINDS = APP_RESOURCE_KEYS - {"name", "description"}
# kind -> (accepted fields, required fields, accepted permissions)
APP_RESOURCE_SPECS: dict[str, tuple[set[str], set[str], set[str]]] = {
    # Lakebase autoscaling (projects/branches) and provisioned (instances) databases; .../databricks-apps/lakebase
    "postgres": ({"branch", "database", "permission"}, {"branch", "database", "permission"},
                 {"CAN_CONNECT_AND_CREATE"}),
    "database": ({"instance_name", "database_name", "permission"}, {"instance_name", "database_name", "permission"},
                 {"CAN_CONNECT_AND_CREATE"}),
    # .../databricks-apps/uc-volumes
    "uc_securable": ({"securable_type", "securable_full_name", "permission", "securable_kind"},
                     {"securable_type", "securable_full_name", "permission"},
                     {"READ_VOLUME", "WRITE_VOLUME", "SELECT", "EXECUTE", "USE_CONNECTION", "MODIFY"}),
    "serving_endpoint": ({"name", "permission"}, {"name", "permission"}, {"CAN_MANAGE", "CAN_QUERY", "CAN_VIEW"}),
    "job": ({"id", "permission"}, {"id", "permission"}, {"CAN_MANAGE", "IS_OWNER", "CAN_MANAGE_RUN", "CAN_VIEW"}),
}
UC_SECURABLE_TYPES = {"VOLUME", "TABLE", "FUNCTION", "CONNECTION"}
DATABASE_KINDS = {"postgres", "database"}  # their connection settings are injected as PG*, not via valueFrom

# Jobs: resources.Job in the bundle schema (the Jobs API's JobSettings, https://docs.databricks.com/api/workspace/jobs/create,
# plus `permissions` and `lifecycle`). Task, cluster and library fields are the Jobs/Clusters API's.
JOB_KEYS = {"budget_policy_id", "continuous", "description", "email_notifications", "environments", "git_source",
            "health", "job_clusters", "lifecycle", "max_concurrent_runs", "name", "notification_settings",
            "parameters", "performance_target", "permissions", "queue", "run_as", "schedule", "tags", "tasks",
            "timeout_seconds", "trigger", "usage_policy_id", "webhook_notifications"}
JOB_PARAMETER_KEYS = {"name", "default"}  # both required
QUEUE_KEYS = {"enabled"}
TASK_KEYS = {"task_key", "description", "depends_on", "run_if", "spark_python_task", "notebook_task",
             "python_wheel_task", "spark_jar_task", "spark_submit_task", "sql_task", "dbt_task", "pipeline_task",
             "run_job_task", "condition_task", "for_each_task", "existing_cluster_id", "new_cluster",
             "job_cluster_key", "environment_key", "libraries", "max_retries", "min_retry_interval_millis",
             "retry_on_timeout", "timeout_seconds", "email_notifications", "notification_settings",
             "webhook_notifications", "health", "disable_auto_optimization"}
SPARK_PYTHON_TASK_KEYS = {"python_file", "parameters", "source"}
# Clusters API ClusterSpec, https://docs.databricks.com/api/workspace/clusters/create
CLUSTER_KEYS = {"spark_version", "node_type_id", "driver_node_type_id", "num_workers", "autoscale",
                "data_security_mode", "single_user_name", "spark_conf", "spark_env_vars", "custom_tags",
                "policy_id", "apply_policy_default_values", "instance_pool_id", "driver_instance_pool_id",
                "runtime_engine", "aws_attributes", "azure_attributes", "gcp_attributes", "enable_elastic_disk",
                "enable_local_disk_encryption", "init_scripts", "cluster_log_conf", "autotermination_minutes",
                "is_single_node", "kind", "use_ml_runtime", "cluster_name", "ssh_public_keys", "docker_image",
                "workload_type"}
DATA_SECURITY_MODES = {"SINGLE_USER", "USER_ISOLATION", "NONE", "DATA_SECURITY_MODE_AUTO",
                       "DATA_SECURITY_MODE_STANDARD", "DATA_SECURITY_MODE_DEDICATED"}
LIBRARY_KEYS = {"pypi", "whl", "jar", "requirements", "maven", "cran"}
PYPI_KEYS = {"package", "repo"}

# Each written-down set must be made of real field names: the pinned databricks-sdk is generated from the same
# REST API specification, so its dataclasses list every field the API has (they may have more than we allow).
SDK_CROSS_CHECKS: list[tuple[str, set[str], type]] = [
    ("app env item", {"name", "value", "value_from"}, apps.EnvVar),  # valueFrom is app.yml's spelling of value_from
    ("app", APP_KEYS - BUNDLE_ONLY_KEYS, apps.App),
    ("app resource", APP_RESOURCE_KEYS, apps.AppResource),
    ("postgres", APP_RESOURCE_SPECS["postgres"][0], apps.AppResourcePostgres),
    ("database", APP_RESOURCE_SPECS["database"][0], apps.AppResourceDatabase),
    ("uc_securable", APP_RESOURCE_SPECS["uc_securable"][0], apps.AppResourceUcSecurable),
    ("serving_endpoint", APP_RESOURCE_SPECS["serving_endpoint"][0], apps.AppResourceServingEndpoint),
    ("job (app resource)", APP_RESOURCE_SPECS["job"][0], apps.AppResourceJob),
    ("job", JOB_KEYS - BUNDLE_ONLY_KEYS, jobs.JobSettings),
    ("job parameter", JOB_PARAMETER_KEYS, jobs.JobParameterDefinition),
    ("queue", QUEUE_KEYS, jobs.QueueSettings),
    ("task", TASK_KEYS, jobs.Task),
    ("spark_python_task", SPARK_PYTHON_TASK_KEYS, jobs.SparkPythonTask),
    ("new_cluster", CLUSTER_KEYS, compute.ClusterSpec),
    ("library", LIBRARY_KEYS, compute.Library),
    ("pypi", PYPI_KEYS, compute.PythonPyPiLibrary),
]
SDK_ENUM_CHECKS: list[tuple[str, set[str], Any]] = [
    ("postgres permission", APP_RESOURCE_SPECS["postgres"][2], apps.AppResourcePostgresPostgresPermission),
    ("database permission", APP_RESOURCE_SPECS["database"][2], apps.AppResourceDatabaseDatabasePermission),
    ("uc_securable permission", APP_RESOURCE_SPECS["uc_securable"][2],
     apps.AppResourceUcSecurableUcSecurablePermission),
    ("uc_securable type", UC_SECURABLE_TYPES, apps.AppResourceUcSecurableUcSecurableType),
    ("serving_endpoint permission", APP_RESOURCE_SPECS["serving_endpoint"][2],
     apps.AppResourceServingEndpointServingEndpointPermission),
    ("job permission", APP_RESOURCE_SPECS["job"][2], apps.AppResourceJobJobPermission),
    ("data_security_mode", DATA_SECURITY_MODES, compute.DataSecurityMode),
]

# -- what this deployment promises -----------------------------------------------------------------------------
APP_COMMAND = ["python", "server.py", "serve"]
# app.yml names only the serving process needs; every other one must reach the worker job with the same value.
APP_ONLY_ENV = {"AUTH_MODE", "ADMIN_USERS", "HOST", "JOB_RUNNER", "DATABRICKS_JOB_ID", "JOB_RUNNER_MIN_ITEMS",
                "LAKEBASE_ENDPOINT"}  # the worker finds the endpoint from LAKEBASE_PROJECT_ID / LAKEBASE_BRANCH_ID
# Names server.py does not read yet (issue 7 is adding them). Remove each one here when server.py reads it:
# test_pending_server_names_are_still_pending fails as a reminder.
PENDING_SERVER_NAMES: set[str] = set()
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


def the_app(bundle: Bundle) -> tuple[str, dict[str, Any]]:
    apps_ = bundle.resources.get("apps") or {}
    assert len(apps_) == 1, f"the bundle should declare exactly one app, found {sorted(apps_)}"
    return next(iter(apps_.items()))


def the_worker(bundle: Bundle) -> tuple[str, dict[str, Any]]:
    _, app = the_app(bundle)
    refs = [r["job"]["id"] for r in app.get("resources") or [] if isinstance(r, dict) and "job" in r]
    assert len(refs) == 1, "the app should have exactly one job resource (the worker job)"
    match = re.fullmatch(r"\$\{resources\.jobs\.([\w-]+)\.id\}", str(refs[0]))
    assert match, f"the app's job resource id {refs[0]!r} should be ${{resources.jobs.<key>.id}} of a bundle job"
    key = match.group(1)
    jobs_ = bundle.resources.get("jobs") or {}
    assert key in jobs_, f"the app's job resource points at resources.jobs.{key}, which the bundle does not declare"
    return key, jobs_[key]


def worker_env(job: dict[str, Any]) -> dict[str, str]:
    (task,) = job["tasks"]
    return task["new_cluster"]["spark_env_vars"]


# -- checks that return problems (so a test can also show they catch a one-sided rename) -------------------------


def unknown(obj: Any, accepted: set[str], where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} should be a mapping, got {type(obj).__name__}"]
    return [f"{where}: field {k!r} is not one the platform accepts ({sorted(accepted)})" for k in obj
            if k not in accepted]


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
                  or resource.get("serving_endpoint", {}).get("name"))
        if source is None:
            problems.append(f"worker job: cannot tell which value {name} (valueFrom {item['valueFrom']!r}) has")
        elif str(env[name]) != str(source):
            problems.append(f"worker job: {name}={env[name]!r} but the app's {item['valueFrom']!r} resource "
                            f"uses {source!r}")
    postgres = [r["postgres"] for r in app.get("resources") or [] if "postgres" in r]
    for db in postgres:
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


# -- app.yml ---------------------------------------------------------------------------------------------------


def test_app_yml_has_only_accepted_fields(app_yml: dict[str, Any]) -> None:
    assert unknown(app_yml, APP_YML_KEYS, "app.yml") == []
    assert app_yml["command"] == APP_COMMAND
    names = []
    for i, item in enumerate(app_yml["env"]):
        assert unknown(item, APP_ENV_KEYS, f"app.yml env[{i}]") == []
        assert ENV_NAME.match(str(item.get("name", ""))), f"app.yml env[{i}]: bad variable name {item.get('name')!r}"
        assert ("value" in item) != ("valueFrom" in item), f"{item['name']}: give exactly one of value, valueFrom"
        if "value" in item:
            # YAML turns unquoted false / 10000 into bool / int; the platform takes strings.
            assert isinstance(item["value"], str), f"{item['name']}: quote the value {item['value']!r}"
        names.append(item["name"])
    assert len(names) == len(set(names)), f"app.yml sets a variable twice: {names}"


def test_app_yml_leaves_platform_variables_to_the_platform(app_yml: dict[str, Any]) -> None:
    assert {e["name"] for e in app_yml["env"]} & PLATFORM_ENV == set()


def test_value_from_matches_the_apps_resources(app_yml: dict[str, Any], bundle: Bundle) -> None:
    _, app = the_app(bundle)
    assert value_from_problems(app_yml, app) == []


def test_export_volume_is_writable_and_source_volume_readable(app_yml: dict[str, Any], bundle: Bundle) -> None:
    _, app = the_app(bundle)
    by_name = {r["name"]: r for r in app["resources"]}
    value_from = {e["name"]: e["valueFrom"] for e in app_yml["env"] if "valueFrom" in e}
    export = by_name[value_from["EXPORT_VOLUME"]]["uc_securable"]
    source = by_name[value_from["SOURCE_VOLUME"]]["uc_securable"]
    assert (export["securable_type"], export["permission"]) == ("VOLUME", "WRITE_VOLUME")
    assert (source["securable_type"], source["permission"]) == ("VOLUME", "READ_VOLUME")


def test_env_names_are_read_by_server(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """A text check: each name app.yml or the worker job sets appears as a string literal in server.py."""
    _, job = the_worker(bundle)
    names = {e["name"] for e in app_yml["env"]} | set(worker_env(job))
    source = SERVER.read_text(encoding="utf-8")
    missing = {n for n in names if not re.search(rf"""["']{n}["']""", source)}
    assert missing <= PENDING_SERVER_NAMES, f"server.py never reads {sorted(missing - PENDING_SERVER_NAMES)}"
    if missing:
        pytest.xfail(f"server.py does not read these yet (issue 7): {sorted(missing)}")


def test_pending_server_names_are_still_pending() -> None:
    source = SERVER.read_text(encoding="utf-8")
    read = {n for n in PENDING_SERVER_NAMES if re.search(rf"""["']{n}["']""", source)}
    assert read == set(), f"server.py reads {sorted(read)} now: remove them from PENDING_SERVER_NAMES"


# -- the bundle ------------------------------------------------------------------------------------------------


def test_bundle_has_only_accepted_fields(bundle: Bundle) -> None:
    root = bundle.root
    assert unknown(root, BUNDLE_ROOT_KEYS, "databricks.yml") == []
    assert unknown(root["bundle"], BUNDLE_KEYS, "bundle") == []
    assert root["bundle"]["name"] == "cv-explorer"
    assert unknown(root.get("sync", {}), SYNC_KEYS, "sync") == []
    for name, spec in root["variables"].items():
        assert unknown(spec, VARIABLE_KEYS, f"variables.{name}") == []
        assert spec.get("description"), f"variables.{name}: say what it is for"
    for pattern in root["include"]:
        assert list(ROOT.glob(pattern)), f"include {pattern!r} matches no file"
    seen: dict[tuple[str, str], Path] = {}
    for path, doc in bundle.files.items():
        assert unknown(doc, {"resources"}, str(path.relative_to(ROOT))) == []
        assert unknown(doc["resources"], RESOURCE_TYPES, f"{path.name}: resources") == []
        for kind, items in doc["resources"].items():
            for key in items:
                assert (kind, key) not in seen, f"resources.{kind}.{key} is declared in {seen[kind, key]} and {path}"
                seen[kind, key] = path


def test_targets_dev_and_prod(bundle: Bundle) -> None:
    targets = bundle.root["targets"]
    assert {"dev", "prod"} <= set(targets)
    for name, spec in targets.items():
        assert unknown(spec, TARGET_KEYS, f"targets.{name}") == []
        assert spec.get("mode") in TARGET_MODES, f"targets.{name}.mode must be one of {sorted(TARGET_MODES)}"
    assert targets["dev"]["mode"] == "development" and targets["dev"].get("default") is True
    assert targets["prod"]["mode"] == "production"
    assert [n for n, s in targets.items() if s.get("default")] == ["dev"], "exactly one default target: dev"


def test_variables_used_are_declared_and_references_resolve(bundle: Bundle) -> None:
    assert reference_problems(bundle) == []


def test_client_build_is_synced_although_git_ignored(bundle: Bundle) -> None:
    # Bundle sync skips git-ignored files, and client/dist is git-ignored: without this the app serves no SPA.
    assert "client/dist/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "client/dist/**" in bundle.root["sync"]["include"]


def test_app_resource_has_only_accepted_fields(bundle: Bundle) -> None:
    key, app = the_app(bundle)
    where = f"resources.apps.{key}"
    assert unknown(app, APP_KEYS, where) == []
    assert {"name", "source_code_path"} <= set(app), f"{where}: name and source_code_path are required"
    assert "config" not in app, f"{where}: `config` would overwrite app.yml on deploy; keep command and env in app.yml"
    source = (bundle.source_of("apps", key).parent / app["source_code_path"]).resolve()
    assert source == ROOT and (source / "app.yml").is_file(), f"{where}: source_code_path should be the bundle root"
    names = [r.get("name") for r in app["resources"]]
    assert len(names) == len(set(names)), f"{where}: resource names must be unique: {names}"
    for r in app["resources"]:
        rw = f"{where}.resources[{r.get('name')}]"
        assert unknown(r, APP_RESOURCE_KEYS, rw) == []
        kinds = APP_RESOURCE_KINDS & set(r)
        assert len(kinds) == 1, f"{rw}: exactly one kind of {sorted(APP_RESOURCE_KINDS)}, got {sorted(kinds)}"
        (kind,) = kinds
        assert kind in APP_RESOURCE_SPECS, f"{rw}: {kind} resources are not covered by this test; add their fields"
        fields, required, permissions = APP_RESOURCE_SPECS[kind]
        assert unknown(r[kind], fields, f"{rw}.{kind}") == []
        assert required <= set(r[kind]), f"{rw}.{kind}: missing {sorted(required - set(r[kind]))}"
        assert r[kind]["permission"] in permissions, f"{rw}.{kind}.permission must be one of {sorted(permissions)}"
        if kind == "uc_securable":
            assert r[kind]["securable_type"] in UC_SECURABLE_TYPES
        if kind == "postgres":
            assert re.fullmatch(r"projects/[^/]+/branches/[^/]+", r[kind]["branch"])
            assert r[kind]["database"].startswith(r[kind]["branch"] + "/databases/")


def test_app_has_the_resources_the_deployment_needs(bundle: Bundle) -> None:
    _, app = the_app(bundle)
    kinds = sorted(next(iter(APP_RESOURCE_KINDS & set(r))) for r in app["resources"])
    assert kinds == ["job", "postgres", "serving_endpoint", "uc_securable", "uc_securable"]
    job = next(r["job"] for r in app["resources"] if "job" in r)
    assert job["permission"] == "CAN_MANAGE_RUN"
    serving = next(r["serving_endpoint"] for r in app["resources"] if "serving_endpoint" in r)
    assert serving["permission"] == "CAN_QUERY"


def test_worker_job_has_only_accepted_fields(bundle: Bundle) -> None:
    key, job = the_worker(bundle)
    where = f"resources.jobs.{key}"
    assert unknown(job, JOB_KEYS, where) == []
    assert unknown(job.get("queue", {}), QUEUE_KEYS, f"{where}.queue") == []
    for p in job["parameters"]:
        assert unknown(p, JOB_PARAMETER_KEYS, f"{where}.parameters") == []
        assert set(p) == JOB_PARAMETER_KEYS, f"{where}.parameters: name and default are both required"
    for task in job["tasks"]:
        tw = f"{where}.tasks[{task.get('task_key')}]"
        assert unknown(task, TASK_KEYS, tw) == []
        assert unknown(task["spark_python_task"], SPARK_PYTHON_TASK_KEYS, f"{tw}.spark_python_task") == []
        cluster = task["new_cluster"]
        assert unknown(cluster, CLUSTER_KEYS, f"{tw}.new_cluster") == []
        assert cluster["data_security_mode"] in DATA_SECURITY_MODES
        assert all(ENV_NAME.match(n) and isinstance(v, str) for n, v in cluster["spark_env_vars"].items())
        for lib in task["libraries"]:
            assert unknown(lib, LIBRARY_KEYS, f"{tw}.libraries") == []
            assert unknown(lib.get("pypi", {}), PYPI_KEYS, f"{tw}.libraries.pypi") == []


def test_worker_job_runs_server_worker(bundle: Bundle) -> None:
    key, job = the_worker(bundle)
    (task,) = job["tasks"]
    spt = task["spark_python_task"]
    script = (bundle.source_of("jobs", key).parent / spt["python_file"]).resolve()
    assert script == SERVER, f"the worker task should run the bundle's copy of server.py, not {script}"
    (param,) = [p["name"] for p in job["parameters"]]
    assert spt["parameters"] == ["worker", "--job-id", f"{{{{job.parameters.{param}}}}}"]
    # ... and server.py's command line has that sub-command and option (a text check, like the env names).
    source = SERVER.read_text(encoding="utf-8")
    assert re.search(r"""add_parser\(\s*["']worker["']""", source), "server.py has no `worker` sub-command"
    assert re.search(r"""["']--job-id["']""", source), "server.py's worker has no --job-id option"


def test_worker_job_gets_the_apps_settings(app_yml: dict[str, Any], bundle: Bundle) -> None:
    _, app = the_app(bundle)
    _, job = the_worker(bundle)
    assert worker_env_problems(app_yml, app, job) == []
    env = worker_env(job)
    assert env["DATABRICKS_HOST"] == "${workspace.host}"
    # Lakebase logs the worker in as the identity the run executes as: the deployer unless run_as says otherwise.
    run_as = job.get("run_as") or bundle.root.get("run_as") or {}
    identity = run_as.get("service_principal_name") or run_as.get("user_name") or "${workspace.current_user.userName}"
    assert env["PGUSER"] == identity
    # The task's working directory is the synced source: keep caches out of it.
    assert Path(env["DATA_DIR"]).is_absolute()


def test_worker_job_installs_pyproject_dependencies(bundle: Bundle) -> None:
    _, job = the_worker(bundle)
    (task,) = job["tasks"]
    installed = sorted(lib["pypi"]["package"] for lib in task["libraries"])
    with (ROOT / "pyproject.toml").open("rb") as f:
        pinned = sorted(tomllib.load(f)["project"]["dependencies"])
    assert installed == pinned


def test_a_rename_on_one_side_only_is_caught(app_yml: dict[str, Any], bundle: Bundle) -> None:
    """The consistency checks above really depend on both sides: rename things on one side and they complain."""
    _, app = the_app(bundle)
    _, job = the_worker(bundle)
    renamed_resource = copy.deepcopy(app)
    next(r for r in renamed_resource["resources"] if r["name"] == "export-volume")["name"] = "exports"
    assert value_from_problems(app_yml, renamed_resource)
    renamed_value_from = copy.deepcopy(app_yml)
    next(e for e in renamed_value_from["env"] if e["name"] == "DATABRICKS_JOB_ID")["valueFrom"] = "job"
    assert value_from_problems(renamed_value_from, app)
    other_volume = copy.deepcopy(job)
    worker_env(other_volume)["SOURCE_VOLUME"] = "${var.export_volume}"
    assert worker_env_problems(app_yml, app, other_volume)
    renamed_job = copy.deepcopy(bundle)
    for doc in renamed_job.files.values():
        jobs_ = (doc.get("resources") or {}).get("jobs")
        if jobs_:
            jobs_["worker"] = jobs_.pop(next(iter(jobs_)))
    assert any("resources.jobs." in p for p in reference_problems(renamed_job))
    renamed_var = copy.deepcopy(bundle)
    renamed_var.root["variables"]["images_volume"] = renamed_var.root["variables"].pop("source_volume")
    assert reference_problems(renamed_var)


@pytest.mark.parametrize(("what", "ours", "sdk_class"), SDK_CROSS_CHECKS, ids=[c[0] for c in SDK_CROSS_CHECKS])
def test_written_down_fields_exist_in_the_api(what: str, ours: set[str], sdk_class: type) -> None:
    assert ours - {f.name for f in dataclasses.fields(sdk_class)} == set()


@pytest.mark.parametrize(("what", "ours", "sdk_enum"), SDK_ENUM_CHECKS, ids=[c[0] for c in SDK_ENUM_CHECKS])
def test_written_down_values_exist_in_the_api(what: str, ours: set[str], sdk_enum: Any) -> None:
    assert ours - {m.value for m in sdk_enum} == set()


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
