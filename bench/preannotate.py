"""Pre-annotation figure: job overhead end to end on SQLite with an instant model (a Label Studio ML backend on
loopback that answers every task at once with two boxes), i.e. what the job itself costs per sample."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.figures import Figure
from bench.live_server import live_server
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work" / "preannotate"
N = 2000
ANSWER = [{"type": "rectanglelabels", "score": 0.9,
           "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car"]}},
          {"type": "rectanglelabels", "score": 0.8,
           "value": {"x": 50, "y": 40, "width": 30, "height": 30, "rectanglelabels": ["person"]}}]


class ModelServer(ThreadingHTTPServer):
    """A Label Studio ML backend on loopback answering every task with ANSWER (after `seconds_per_task`), and
    counting the sample ids it was asked about."""

    daemon_threads = True

    def __init__(self, seconds_per_task: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seconds_per_task = seconds_per_task
        self.seen: Counter[str] = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_GET(self) -> None:
        self._send({"status": "UP"})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/setup":
            self._send({"model_version": "instant"})
            return
        tasks = request["tasks"]
        if self.server.seconds_per_task:
            time.sleep(self.server.seconds_per_task * len(tasks))
        self.server.seen.update(str(t["id"]) for t in tasks)
        self._send({"results": [{"result": ANSWER} for _ in tasks]})

    def _send(self, answer: object) -> None:
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def model_server(seconds_per_task: float = 0.0) -> Iterator[ModelServer]:
    server = ModelServer(seconds_per_task)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()


@contextmanager
def instant_model() -> Iterator[str]:
    with model_server() as server:
        yield server.url


def _wait(http: httpx.Client, job_id: str) -> dict:
    while (job := gql(http, "query($j: ID!){ job(id: $j){ status result } }", j=job_id)["job"])["status"] in (
            "QUEUED", "RUNNING"):
        time.sleep(0.05)
    assert job["status"] == "SUCCEEDED", job
    return job


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    images = WORK / "images"
    images.mkdir(parents=True)
    for i in range(N):
        (images / f"{i:05}.jpg").touch()
    with instant_model() as model, live_server({
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.db'}", "DATA_DIR": str(WORK / "data"),
        "VOLUME_MOUNTS": f"/Volumes/b/p/images={images}", "MODEL_BACKEND_URL": model, "MODEL_NAME": "instant",
        "MODEL_URL_ALLOW": "127.0.0.1",
    }) as base, httpx.Client(base_url=base, timeout=60) as http:
        pid = gql(http, """mutation { createProject(input: {name: "pre", taskType: DETECTION, classes: ["car",
            "person"], sourceVolume: "/Volumes/b/p/images"}) { id } }""")["createProject"]["id"]
        _wait(http, gql(http, "query($p: ID!){ jobs(projectId: $p){ id } }", p=pid)["jobs"][0]["id"])
        t0 = time.perf_counter()
        job = gql(http, "mutation($p: ID!){ preannotate(projectId: $p){ id } }", p=pid)["preannotate"]
        result = _wait(http, job["id"])["result"]
        elapsed = time.perf_counter() - t0
        assert result["succeeded"] == N and result["drafts"] == 2 * N, result
    shutil.rmtree(WORK, ignore_errors=True)
    return [Figure("pre-annotation job with an instant model, end to end (SQLite)", N / elapsed, "samples/s", 200,
                   higher_is_better=True)]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
