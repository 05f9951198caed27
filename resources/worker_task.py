"""The worker job's task: run `server.py worker --job-id <id>` in a private virtualenv built from requirements.txt.

Why not cluster libraries: installed into the Databricks Runtime's own Python, our pins (numpy 2, protobuf 7, a
newer databricks-sdk) replace the runtime's numpy 1.23 and protobuf 4.24, which its REPL and PySpark were built
against. Here the runtime's Python (3.11 on 15.4 LTS, the version pyproject.toml requires) only creates a virtualenv
on the cluster's local disk, keyed by the hash of requirements.txt (built once per cluster, then reused), and the
worker runs in it: the same pinned packages the app gets, and the runtime's environment untouched. Standard library
only: this file runs before any of our packages exist.

The run's identity: when the environment names no credentials, the Databricks Runtime's own (the run-as identity's
API token from the notebook context) are handed to the worker as DATABRICKS_HOST / DATABRICKS_TOKEN.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENVS = "/local_disk0/cv-explorer-venvs" if Path("/local_disk0").is_dir() else "/tmp/cv-explorer-venvs"
READY = ".cvx-ready"  # written last: a virtualenv without it was interrupted and is rebuilt


def venv_for(requirements: Path, root: Path) -> Path:
    """Where the virtualenv for this exact requirements file lives."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    return root / f"venv-{digest}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_venv(requirements: Path, root: Path, *, quiet: bool = True) -> Path:
    """The virtualenv with exactly requirements.txt installed (pip resolves with dependencies, as the Apps platform
    does), built on first use; its python. Nothing else: no editable install, no extras, no system site-packages."""
    target = venv_for(requirements, root)
    python = target / "bin" / "python"
    with _locked(target.with_suffix(".lock")):
        if (target / READY).is_file():
            (target / READY).touch()  # in use: not pruned
            return python
        shutil.rmtree(target, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "-r", str(requirements)]
        subprocess.run(pip + (["--quiet"] if quiet else []), check=True)
        freeze = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True, capture_output=True,
                                text=True).stdout
        (target / READY).write_text(freeze, encoding="utf-8")
    _prune(root, keep=target)
    return python


def _prune(root: Path, keep: Path, days: float = 7.0) -> None:
    """Virtualenvs of older requirements files, unused for `days`, are deleted (each is a few hundred MB)."""
    for old in root.glob("venv-*"):
        ready = old / READY
        if old.is_dir() and old != keep and ready.is_file() and time.time() - ready.stat().st_mtime > days * 86400:
            shutil.rmtree(old, ignore_errors=True)


def runtime_credentials() -> dict[str, str]:
    """The Databricks Runtime's credentials for the run-as identity, when this runs on a cluster; {} elsewhere."""
    try:
        from dbruntime.databricks_repl_context import get_context  # type: ignore[import-not-found]
    except ImportError:
        return {}
    ctx = get_context()
    if ctx is None or not getattr(ctx, "apiToken", None):
        return {}
    host = getattr(ctx, "workspaceUrl", None) or ""
    return {"DATABRICKS_TOKEN": ctx.apiToken, **({"DATABRICKS_HOST": host} if host else {})}


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """The task's environment (the job's spark_env_vars), with the runtime's credentials when it names none."""
    out = dict(env)
    found = {} if out.get("DATABRICKS_TOKEN") or out.get("DATABRICKS_CLIENT_SECRET") else runtime_credentials()
    if found:
        out["DATABRICKS_TOKEN"] = found["DATABRICKS_TOKEN"]
        out.setdefault("DATABRICKS_HOST", found.get("DATABRICKS_HOST", ""))
    out.pop("PYTHONPATH", None)  # the runtime's own packages stay out of the worker's interpreter
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker_task.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-id", required=True, help="the CV Explorer job id (the job parameter cvx_job_id)")
    parser.add_argument("--venvs", default=os.environ.get("CVX_WORKER_VENVS", DEFAULT_VENVS),
                        help=f"where virtualenvs are kept (default {DEFAULT_VENVS})")
    args = parser.parse_args(argv)
    python = ensure_venv(ROOT / "requirements.txt", Path(args.venvs))
    done = subprocess.run([str(python), str(ROOT / "server.py"), "worker", "--job-id", args.job_id], cwd=ROOT,
                          env=worker_env(os.environ))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
