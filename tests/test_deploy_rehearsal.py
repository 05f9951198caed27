"""A rehearsal of deploying the bundle to a Databricks workspace and using the app, as faithful as this machine allows.

What the platform does, played here step by step:
- the files `databricks bundle deploy` would sync (git-tracked and not ignored, plus `sync.include`) are copied into
  a scratch folder, the app's source;
- the Apps platform installs requirements.txt, and only it, into an empty virtualenv (built once per version of the
  file and reused from a cache outside the repository, see CACHE);
- the workspace is the local emulator (tests/databricks_emulator.py) over HTTPS: OAuth M2M for the app's service
  principal, Lakebase credentials, Unity Catalog Files, Jobs run-now (which starts the worker task, as the job
  defines it, with the job's environment and the run-as identity's credentials), Serving, the Apps permissions;
- Lakebase is a throwaway PostgreSQL that checks passwords: the app's role logs in only with the credential the
  emulator minted for it for the database resource's endpoint (a workspace token is refused), over TLS on port 5432;
- the app gets only the environment the platform documents: DATABRICKS_* (the host without a scheme), the PG*
  variables of its database resource, and app.yml's env with each valueFrom resolved as the platform resolves it;
  then app.yml's command is started;
- a stand-in for the Apps proxy forwards requests as the signed-in deployer (X-Forwarded-* headers).
Then, through the proxy: /health, a project on a Unity Catalog folder, a label, a COCO upload imported as a worker
run, an export (also a worker run), and the export read back from the volume.

The first run builds the virtualenv (pip install of the pins: a few minutes); later runs reuse it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from PIL import Image

from tests.apps_proxy import AppsProxy, User
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_apps import APPS_ROUTES, add_app, add_folder, readers_of
from tests.emulated_jobs import JOBS_ROUTES, define_job, runs
from tests.emulated_lakebase import LAKEBASE_ROUTES, add_project, credentials_issued
from tests.emulated_oauth import CLIENT_ID, CLIENT_SECRET, OAUTH_ROUTES, issued
from tests.graphql_client import gql
from tests.throwaway_pg import throwaway_cluster
from tests.waiting import until_ended

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CVX_REHEARSAL_CACHE") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cv-explorer" / "venvs")
TARGET = "dev"
DEPLOYER = "dep@example.com"
# What the deployer passes to `databricks bundle deploy` (BUNDLE_VAR_* or --var), as README.md's steps do.
BUNDLE_VARS = {"source_volume": "main.vision.images", "export_volume": "main.vision.exports",
               "lakebase_project_id": "cvx", "lakebase_database_id": "db-cvx", "serving_endpoint_name": "detector",
               "sql_warehouse_id": "wh-cvx"}
SAMPLES = 10_000  # app.yml sends jobs on projects this big (JOB_RUNNER_MIN_ITEMS) to the worker job
JOB_ID = 9100

pytestmark = pytest.mark.timeout(900)  # the first run installs the pins


# -- what the bundle deploys ---------------------------------------------------------------------------------------


def synced_files(root: Path) -> list[Path]:
    """What `databricks bundle deploy` uploads: files in the bundle root that git does not ignore, plus the bundle's
    sync.include patterns (the built client). Symbolic links are left out (a local virtualenv link, say)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            check=True, capture_output=True).stdout.decode().split("\0")
    files = {root / p for p in listed if p}
    config = yaml.safe_load((root / "databricks.yml").read_text(encoding="utf-8"))
    for pattern in (config.get("sync") or {}).get("include") or []:
        # The CLI's `dir/**` means everything below dir; Python's glob would match only the folders.
        files |= set(root.glob(pattern + "/*" if pattern.endswith("**") else pattern))
    return sorted(p for p in files if p.is_file() and not p.is_symlink())


def resolve(node: Any, values: dict[str, str]) -> Any:
    """The bundle's ${…} substitutions, as the CLI (and, for ${resources…}, the deployment) resolves them."""
    if isinstance(node, str):
        def one(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                raise AssertionError(f"${{{m.group(1)}}} has no value in this rehearsal")
            return values[m.group(1)]
        return re.sub(r"\$\{([\w.-]+)\}", one, node)
    if isinstance(node, dict):
        return {k: resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, values) for v in node]
    return node


def deployed_bundle(src: Path, workspace_url: str) -> dict[str, Any]:
    """The bundle's resources for the dev target, every substitution resolved."""
    root = yaml.safe_load((src / "databricks.yml").read_text(encoding="utf-8"))
    variables = {k: str(v.get("default", "")) for k, v in root["variables"].items()}
    variables.update(root["targets"][TARGET].get("variables") or {})
    variables.update(BUNDLE_VARS)
    values = {f"var.{k}": v for k, v in variables.items()}
    files_path = f"/Workspace/Users/{DEPLOYER}/.bundle/{root['bundle']['name']}/{TARGET}/files"
    values.update({"bundle.target": TARGET, "bundle.name": root["bundle"]["name"], "workspace.host": workspace_url,
                   "workspace.current_user.userName": DEPLOYER, "workspace.file_path": files_path,
                   "resources.apps.cv_explorer.service_principal_client_id": CLIENT_ID})
    resources: dict[str, dict[str, Any]] = {}
    sources: dict[str, Path] = {}
    for pattern in root["include"]:
        for path in sorted(src.glob(pattern)):
            for kind, items in (yaml.safe_load(path.read_text(encoding="utf-8")).get("resources") or {}).items():
                resources.setdefault(kind, {}).update(items)
                sources.update({key: path for key in items})
    return {"resources": resolve(resources, values), "sources": sources, "files_path": files_path,
            "scripts": resolve(root.get("scripts") or {}, values)}


def app_environment(src: Path, app: dict[str, Any]) -> dict[str, str]:
    """app.yml's env, each valueFrom resolved the way the platform resolves the app's resources."""
    by_name = {r["name"]: r for r in app["resources"]}
    env = {}
    for item in yaml.safe_load((src / "app.yml").read_text(encoding="utf-8"))["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        resource = by_name[item["valueFrom"]]
        if "uc_securable" in resource:  # a volume: its full name
            env[item["name"]] = resource["uc_securable"]["securable_full_name"]
        elif "serving_endpoint" in resource:
            env[item["name"]] = resource["serving_endpoint"]["name"]
        elif "sql_warehouse" in resource:  # a SQL warehouse: its id
            env[item["name"]] = resource["sql_warehouse"]["id"]
        elif "postgres" in resource:  # a Lakebase database: the endpoint of its branch
            env[item["name"]] = f"{resource['postgres']['branch']}/endpoints/primary"
        else:
            raise AssertionError(f"this rehearsal cannot resolve valueFrom {item['valueFrom']!r}")
    return env


# -- the pieces ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for the workspace and Lakebase stand-ins (127.0.0.x), and a CA file that trusts
    it, which the processes get as their machine's trust store."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    san = "subjectAltName=DNS:localhost," + ",".join(f"IP:127.0.0.{i}" for i in range(1, 64))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", san, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def _load_worker_task(src: Path) -> Any:
    spec = importlib.util.spec_from_file_location("deployed_worker_task", src / "resources" / "worker_task.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runtime_python() -> str:
    """The stand-in for the Databricks Runtime's own Python 3.11: the system's, without our packages."""
    for candidate in ("/usr/bin/python3.11", shutil.which("python3.11") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    return sys.executable


def _machine_env(certificate: tuple[str, str], home: Path, path: str) -> dict[str, str]:
    """What any process gets from its machine, not from the platform: a PATH, a home, the trust store."""
    return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "SSL_CERT_FILE": certificate[0],
            "REQUESTS_CA_BUNDLE": certificate[0]}


@contextlib.contextmanager
def running(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _jpeg(size: tuple[int, int], shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (shade, 120, 200 - shade)).save(out, "JPEG", quality=80)
    return out.getvalue()


class Browser:
    """GraphQL and HTTP through the Apps proxy, as the signed-in user."""

    def __init__(self, proxy: AppsProxy) -> None:
        self.http = httpx.Client(base_url=proxy.url, timeout=120)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        return gql(self.http, query, **variables)

    def job(self, job_id: str, timeout: float) -> dict[str, Any]:
        return until_ended(lambda: self.gql("query($j: ID!){ job(id: $j){ id kind status error result runId } }",
                                            j=job_id)["job"], timeout, every=0.25)


# -- the rehearsal -----------------------------------------------------------------------------------------------


def test_deploy_then_label_import_and_export_through_the_platform(tmp_path: Path,
                                                                  certificate: tuple[str, str]) -> None:
    started = time.monotonic()
    src = tmp_path / "files"
    for path in synced_files(ROOT):
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    assert not (src / ".venv").exists() and (src / "requirements.txt").is_file()

    # The platform's install: requirements.txt alone, into an empty virtualenv, nothing else.
    worker_task = _load_worker_task(src)
    python = worker_task.ensure_venv(src / "requirements.txt", CACHE, quiet=True)
    venv = python.parent.parent
    installed = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
                 for line in (venv / worker_task.READY).read_text().split() if "==" in line}
    required = {line.split("==")[0]: line.split("==")[1] for line in (src / "requirements.txt").read_text().split()
                if "==" in line}
    assert {k: v for k, v in installed.items() if k not in ("pip", "setuptools")} == required  # complete, closed
    built = time.monotonic()

    home = tmp_path / "home"
    home.mkdir()
    with DatabricksEmulator(tls=certificate) as emu, throwaway_cluster(certificate) as pg:
        for routes in (OAUTH_ROUTES, LAKEBASE_ROUTES, JOBS_ROUTES, APPS_ROUTES):
            emu.add_routes(routes)
        host = emu.url.removeprefix("https://")
        deployed = deployed_bundle(src, emu.url)
        app = deployed["resources"]["apps"]["cv_explorer"]
        job = deployed["resources"]["jobs"]["cv_explorer_worker"]

        # -- the workspace as the deployer left it: volumes, Lakebase, the app's service principal and grants -----
        images = emu.add_volume("/Volumes/main/vision/images")
        exports = emu.add_volume("/Volumes/main/vision/exports")
        small = _jpeg((64, 48), 10)
        for i in range(SAMPLES):
            emu.put_file(f"{images}/street/{i:05}.jpg", _jpeg((320, 240), 40) if i < 3 else small)
        add_project(emu, "cvx", host=pg.host)
        [database] = [r["postgres"] for r in app["resources"] if "postgres" in r]
        endpoint = f"{database['branch']}/endpoints/primary"  # the branch's read-write endpoint
        with pg.admin() as admin:  # what the database resource does: a role for the app's service principal
            admin.execute(f'CREATE ROLE "{CLIENT_ID}" LOGIN PASSWORD \'not-known-to-anyone\'')
            admin.execute("CREATE DATABASE databricks_postgres")
            admin.execute(f'GRANT CONNECT, CREATE ON DATABASE databricks_postgres TO "{CLIENT_ID}"')
        emu.state["lakebase_on_mint"] = pg.set_password  # a minted credential is the role's only password
        managers = {p["service_principal_name"]: p["level"] for p in app.get("permissions") or []
                    if "service_principal_name" in p}
        add_app(emu, app["name"], {DEPLOYER: "CAN_MANAGE"}, managers, client_id=CLIENT_ID)
        add_folder(emu, deployed["files_path"])

        # -- the bundle's grant script, run by the deployer (databricks bundle run grant_worker) ------------------
        script = deployed["scripts"]["grant_worker"]
        deployer_env = {**_machine_env(certificate, home, os.environ["PATH"]), "DATABRICKS_HOST": host,
                        "DATABRICKS_TOKEN": emu.token, **script.get("env", {})}
        done = subprocess.run(["bash", "-c", script["content"]], cwd=ROOT, env=deployer_env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        run_as = job["run_as"]["service_principal_name"]
        assert run_as == CLIENT_ID and readers_of(emu, deployed["files_path"]) == {CLIENT_ID}

        # -- the worker job: run-now starts its task with the job's environment, as its run-as identity ----------
        (task,) = job["tasks"]
        task_file = (deployed["sources"]["cv_explorer_worker"].parent /
                     task["spark_python_task"]["python_file"]).resolve()
        runners = {p["service_principal_name"] for p in job["permissions"] if p["level"] == "CAN_MANAGE_RUN"}
        worker_log = tmp_path / "worker.log"

        def start_task(params: dict[str, str]) -> subprocess.Popen[bytes]:
            assert run_as in readers_of(emu, deployed["files_path"]), "the run-as identity cannot read the files"
            token = f"runtime-token-{len(runs(emu))}"
            with emu.lock:  # the runtime's credentials for the run-as identity
                emu.tokens.add(token)
                emu.state.setdefault("principals", {})[token] = run_as
            args = [a.replace("{{job.parameters.cvx_job_id}}", params["cvx_job_id"])
                    for a in task["spark_python_task"]["parameters"]]
            env = {**_machine_env(certificate, home, "/usr/bin:/bin"), **task["new_cluster"]["spark_env_vars"],
                   "DATABRICKS_TOKEN": token, "CVX_WORKER_VENVS": str(CACHE)}
            with worker_log.open("ab") as log:
                return subprocess.Popen([_runtime_python(), str(task_file), *args], cwd=tmp_path, env=env,
                                        stdout=log, stderr=subprocess.STDOUT)

        define_job(emu, JOB_ID, start_task, settings={"name": f"[dev dep] {job['name']}", "tags": job["tags"]},
                   runners=runners)

        # -- the app: only the platform's environment, app.yml's command -------------------------------------------
        port = _free_port()
        platform = {"DATABRICKS_APP_NAME": app["name"], "DATABRICKS_APP_PORT": str(port),
                    "DATABRICKS_HOST": host, "DATABRICKS_WORKSPACE_ID": emu.workspace_id,
                    "DATABRICKS_CLIENT_ID": CLIENT_ID, "DATABRICKS_CLIENT_SECRET": CLIENT_SECRET,
                    "PGHOST": pg.host, "PGPORT": "5432", "PGDATABASE": "databricks_postgres", "PGUSER": CLIENT_ID,
                    "PGSSLMODE": "require"}
        env = {**_machine_env(certificate, home, f"{venv / 'bin'}:/usr/bin:/bin"), **platform,
               **app_environment(src, app)}
        command = yaml.safe_load((src / "app.yml").read_text(encoding="utf-8"))["command"]
        assert shutil.which(command[0], path=env["PATH"]) == str(venv / "bin" / command[0])
        app_log = tmp_path / "app.log"
        with running(command, src, env, app_log) as process, \
                AppsProxy(port, f"{app['name']}-{emu.workspace_id}.aws.databricksapps.com") as proxy:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, app_log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json() == {"status": "ok"}:
                        break
                assert time.monotonic() < deadline, app_log.read_text()
                time.sleep(0.2)
            up = time.monotonic()
            try:
                _use_the_app(proxy, emu, images, exports, worker_log)
            except BaseException:
                print(app_log.read_text()[-6000:], worker_log.read_text()[-6000:] if worker_log.exists() else "")
                raise

        # -- Lakebase saw only credentials minted for the endpoint; a workspace token does not log in -------------
        principals = emu.state["principals"]
        minting = emu.calls("POST", "/api/2.0/postgres/credentials")
        assert minting and {principals[c.headers["authorization"].removeprefix("Bearer ")] for c in minting} == \
            {CLIENT_ID}  # the app (OAuth M2M) and the worker runs (the runtime's token), both as the app's principal
        assert credentials_issued(emu) and set(emu.state["lakebase_current"]) == {(CLIENT_ID, endpoint)}
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=pg.host, port=5432, user=CLIENT_ID, password=issued(emu)[0],
                            dbname="databricks_postgres", sslmode="require", connect_timeout=10).close()
    print(f"\nrehearsal: virtualenv {built - started:.1f} s, app up {up - built:.1f} s, "
          f"flow {time.monotonic() - up:.1f} s")


def _use_the_app(proxy: AppsProxy, emu: DatabricksEmulator, images: str, exports: str, worker_log: Path) -> None:
    browser = Browser(proxy)
    assert browser.http.get("/health").json() == {"status": "ok"}
    assert browser.http.post("/graphql", json={"query": "{ me { name } }"}).status_code == 401  # nobody signed in
    proxy.user = User(email=DEPLOYER, user_id="4711@" + emu.workspace_id, name="dep")
    assert browser.gql("{ me { name isAdmin } }")["me"] == {"name": DEPLOYER, "isAdmin": True}  # the deployer
    if (ROOT / "client" / "dist" / "index.html").is_file():  # built (make test builds it): synced and served
        page = browser.http.get("/")
        assert page.status_code == 200 and '<div id="app"' in page.text
    assert browser.gql("{ modelStatus { ready } }")["modelStatus"] == {"ready": True}

    create = """mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }"""
    project = browser.gql(create, input={"name": "Street", "taskType": "DETECTION", "classes": ["car", "person"],
                                         "sourceVolume": f"{images}/street"})["createProject"]
    [scan] = browser.gql("query($p: ID!){ jobs(projectId: $p){ id } }", p=project["id"])["jobs"]
    done = browser.job(scan["id"], timeout=120)
    assert done["status"] == "SUCCEEDED" and done["result"]["imagesFound"] == SAMPLES and done["runId"] is None

    first = browser.gql("""query($p: ID!){ project(id: $p){ samples(first: 2){ edges { node { id filename
        imageUrl } } } } }""", p=project["id"])["project"]["samples"]["edges"]
    picture = browser.http.get(first[0]["node"]["imageUrl"])
    assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).size == (320, 240)
    saved = browser.gql("""mutation($s: ID!, $a: [AnnotationInput!]!){ saveAnnotations(sampleId: $s,
        annotations: $a){ status version } }""", s=first[0]["node"]["id"],
        a=[{"label": "car", "kind": "BBOX", "box": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}])["saveAnnotations"]
    assert saved["version"] == 2

    coco = {"images": [{"id": 1, "file_name": first[1]["node"]["filename"], "width": 320, "height": 240}],
            "categories": [{"id": 5, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [32, 24, 64, 48]}]}
    upload = browser.http.post(f"/uploads/{project['id']}", params={"name": "people.json"},
                               content=json.dumps(coco).encode(), headers={"content-type": "application/octet-stream"})
    assert upload.status_code == 200, upload.text
    path = upload.json()["path"]
    assert path.startswith(f"{exports}/uploads/{project['id']}/") and emu.read_file(path)  # where a run can read it
    imported = browser.gql("""mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){
        id } }""", p=project["id"], i={"path": path, "format": "COCO"})["importAnnotations"]
    done = browser.job(imported["id"], timeout=300)
    assert done["status"] == "SUCCEEDED" and done["runId"], (done, worker_log.read_text()[-3000:])
    assert done["result"]["annotationsCreated"] == 1

    exported = browser.gql("""mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }""",
                           p=project["id"], i={"format": "COCO", "destination": exports, "includeImages": False})
    done = browser.job(exported["exportDataset"]["id"], timeout=300)
    assert done["status"] == "SUCCEEDED" and done["runId"], (done, worker_log.read_text()[-3000:])
    folder = done["result"]["path"]
    written = {p: json.loads(emu.read_file(p)) for p in list(emu.files)
               if p.startswith(folder + "/") and p.endswith(".json")}
    [coco_out] = [doc for doc in written.values() if isinstance(doc.get("annotations"), list)]
    names = {c["id"]: c["name"] for c in coco_out["categories"]}
    assert sorted(names[a["category_id"]] for a in coco_out["annotations"]) == ["car", "person"], written.keys()
    archive = browser.http.get(f"/exports/{exported['exportDataset']['id']}.zip")
    assert archive.status_code == 200 and zipfile.ZipFile(io.BytesIO(archive.content)).namelist()

    finished = [run for run in runs(emu).values() if run["process"] is not None]
    assert len(finished) == 2 and all(run["process"].wait(30) == 0 for run in finished)
    seen = proxy.seen[-1]
    assert seen["X-Forwarded-Email"] == DEPLOYER and seen["X-Forwarded-Proto"] == "https"
