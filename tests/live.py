"""A real server process for the crash tests: started with its own environment, asked over HTTP, killed with
SIGKILL mid-work (bench.live_server starts it)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bench.live_server import live_server
from tests.graphql_client import gql
from tests.waiting import until_ended

CREATE_AND_SCAN = """mutation($f: String!){ createProject(input: {name: "p", taskType: DETECTION, classes: ["car"],
  sourceVolume: $f}) { id } }"""


@dataclass
class Live:
    proc: subprocess.Popen
    base: str

    def gql(self, query: str, **variables: object) -> dict:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            return gql(http, query, **variables)

    def job(self, job_id: str) -> dict:
        return self.gql("query($j: ID!){ job(id: $j){ status progress total result error } }", j=job_id)["job"]

    def scanned_project(self, folder: str) -> str:
        """A new detection project (class `car`) on folder, once its scan has finished."""
        pid = self.gql(CREATE_AND_SCAN, f=folder)["createProject"]["id"]
        scan = until_ended(lambda: self.gql("query($p: ID!){ jobs(projectId: $p){ status error } }", p=pid)["jobs"][0])
        assert scan["status"] == "SUCCEEDED", scan
        return pid

    def finished(self, job_id: str, timeout: float = 60.0) -> dict:
        job = until_ended(lambda: self.job(job_id), timeout, every=0.2)
        assert job["status"] == "SUCCEEDED", job
        return job

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@contextmanager
def server(env: dict[str, str]) -> Iterator[Live]:
    procs: list[subprocess.Popen] = []
    with live_server(env, timeout=90, procs=procs) as base:  # generous: a loaded 2-core machine starts slowly
        yield Live(procs[0], base)
