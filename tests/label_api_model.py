"""A plain model of what the server must store under the labelling API, and a runner that sends a sequence of
operations through GraphQL and compares every answer and the stored samples with the model after each step.

tests/test_label_api_model.py runs short Hypothesis sequences of it in `make test`; bench/label_api_model.py runs
many more with fresh seeds. The rules the model holds: a save of what a labelled sample already holds changes
nothing (same version, review kept) unless a reviewer rejected it; any real change is one version up and clears
the review; a stale expectedVersion is CONFLICT and changes nothing; drafts, skips and reviews follow the status rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from db import labels
from db.records import AnnotationRecord
from tests.conftest import seed_project

CLASSES = ("cat", "dog", "car")  # seed_project's classes
BOXES = (("cat", (0.1, 0.1, 0.2, 0.2)), ("dog", (0.5, 0.5, 0.3, 0.3)), ("cat", (0.55, 0.1, 0.4, 0.25)),
         ("car", (0.1, 0.6, 0.3, 0.35)))  # a small pool, so that random saves often repeat what is stored
TASKS = ("single", "multi", "detection")
SAMPLES = 3
TABS = 2
KINDS = ("save", "save", "resave", "stale", "skip", "predict", "accept", "clear", "review", "unknown")
MODEL_AUTHOR = "model:m"
UNKNOWN_ID = "987654321"

Item = Any  # a label (classification) or (label, x, y, w, h) (detection)


class Op(NamedTuple):
    kind: str  # one of KINDS
    tab: int  # which of the user's tabs acts: each remembers the versions it saw
    sample: int  # index of the sample
    pick: tuple[int, ...]  # pool indexes: labels (CLASSES) or boxes (BOXES), in the order sent
    flag: bool  # save: jitter every coordinate by 1e-12 (the same box); review: accept (else reject)


@dataclass
class Stored:
    """One sample as the server must hold it."""

    confirmed: tuple[Item, ...] = ()
    drafts: tuple[Item, ...] = ()
    status: str = "UNLABELED"
    review: str = "NONE"
    version: int = 1
    no_objects: bool = False

    def changed(self) -> None:
        self.version += 1
        self.review = "NONE"

    def settle(self, *, skipped: bool | None = None) -> None:
        """The status rule (db.label_plans.status_for) after annotations changed; no_objects holds only while empty."""
        was_skipped = self.status == "SKIPPED" if skipped is None else skipped
        self.no_objects = self.no_objects and not (self.confirmed or self.drafts)
        self.status = ("SKIPPED" if was_skipped else "PRE_LABELED" if self.drafts else
                       "LABELED" if self.confirmed or self.no_objects else "UNLABELED")


@dataclass
class Model:
    task: str
    samples: list[Stored] = field(default_factory=lambda: [Stored() for _ in range(SAMPLES)])
    seen: list[list[int]] = field(default_factory=lambda: [[1] * SAMPLES for _ in range(TABS)])

    def canonical(self, items: Sequence[Item]) -> tuple[Item, ...]:
        return tuple(sorted(items))

    def save(self, i: int, content: tuple[Item, ...]) -> None:
        s = self.samples[i]
        if s.status == "LABELED" and s.review != "REJECTED" and s.no_objects == (not content) \
                and s.confirmed == content and not s.drafts:
            return  # a save that changes nothing is not a change
        s.confirmed, s.drafts, s.status, s.no_objects = content, (), "LABELED", not content
        s.changed()

    def skip(self, i: int) -> None:
        s = self.samples[i]
        if s.status == "SKIPPED":
            return  # skipping again changes nothing
        s.settle(skipped=True)
        s.changed()

    def predict(self, i: int, drafts: tuple[Item, ...]) -> None:
        s = self.samples[i]
        s.drafts = drafts
        s.settle()
        s.changed()

    def resolve(self, i: int, accept: bool) -> int:
        s = self.samples[i]
        n = len(s.drafts)
        if not n:
            return 0
        if accept and self.task == "single":
            s.confirmed = s.drafts  # the model's label becomes the label: one label per sample
        elif accept and self.task == "multi":
            s.confirmed = self.canonical(set(s.confirmed) | set(s.drafts))  # a label is never given twice
        elif accept:
            s.confirmed = self.canonical(s.confirmed + s.drafts)
        s.drafts = ()
        s.settle()
        s.changed()
        return n


class Api(NamedTuple):
    """How the runner reaches the server: GraphQL, a fresh project of n samples, a model's drafts."""

    post: Callable[..., dict[str, Any]]  # (query, **variables) -> the GraphQL response body
    seed: Callable[[str], tuple[int, list[int]]]  # task -> a new project's id and its samples' ids
    predict: Callable[[int, list[AnnotationRecord]], None]


def in_process(client: Any) -> Api:
    """An Api over a Starlette TestClient of the real app (its database through the app's own services)."""
    db = client.app.state.services.db

    def post(query: str, **variables: Any) -> dict[str, Any]:
        r = client.post("/graphql", json={"query": query, "variables": variables})
        assert r.status_code == 200, r.text
        return r.json()

    def seed(task: str) -> tuple[int, list[int]]:
        return client.portal.call(lambda: seed_project(db, SAMPLES, task="DETECTION" if task == "detection"
                                                       else "CLASSIFICATION", multi=task == "multi",
                                                       name=f"M{uuid.uuid4().hex[:8]}"))

    def predict(sid: int, drafts: list[AnnotationRecord]) -> None:
        client.portal.call(lambda: labels.replace_drafts(db, sid, drafts, MODEL_AUTHOR))

    return Api(post, seed, predict)


FIELDS = "id status version reviewStatus annotations { label isDraft box { x y w h } }"
SAVE = f"""mutation($id: ID!, $a: [AnnotationInput!]!, $v: Int) {{ saveAnnotations(sampleId: $id, annotations: $a,
  allowEmpty: true, expectedVersion: $v) {{ {FIELDS} }} }}"""
CLASSIFY = f"""mutation($id: ID!, $l: [String!]!, $v: Int) {{ setClassification(sampleId: $id, labels: $l,
  expectedVersion: $v) {{ {FIELDS} }} }}"""
SKIP = f"mutation($id: ID!, $v: Int) {{ skipSample(sampleId: $id, expectedVersion: $v) {{ {FIELDS} }} }}"
REVIEW = """mutation($id: ID!, $ok: Boolean!, $v: Int) { reviewSample(sampleId: $id, accept: $ok,
  expectedVersion: $v) { id status version reviewStatus } }"""
ACCEPT = "mutation($ids: [ID!]!) { acceptDrafts(sampleIds: $ids) }"
CLEAR = "mutation($ids: [ID!]!) { clearDrafts(sampleIds: $ids) }"
STATE = f"query($p: ID!) {{ project(id: $p) {{ samples(first: 10) {{ edges {{ node {{ {FIELDS} }} }} }} }} }}"


def _item(task: str, a: dict[str, Any]) -> Item:
    if task != "detection":
        return a["label"]
    b = a["box"]
    return (a["label"], *(round(b[k], 9) for k in "xywh"))


class Mismatch(Exception):
    """The server answered or stored something else than the model at this step (1-based)."""

    def __init__(self, step: int, what: str) -> None:
        super().__init__(f"step {step}: {what}")
        self.step = step


class Runner:
    """Runs one sequence on a fresh project; raises Mismatch with the step, the operation and what differed."""

    def __init__(self, api: Api, task: str) -> None:
        self.api, self.task = api, task
        self.model = Model(task)
        pid, ids = api.seed(task)
        self.project, self.ids = str(pid), [str(i) for i in ids]
        self.step = 0

    def _labels(self, pick: Sequence[int]) -> list[str]:
        chosen = list(dict.fromkeys(CLASSES[i % len(CLASSES)] for i in pick))
        return (chosen[:1] or ["cat"]) if self.task == "single" else chosen

    def _boxes(self, pick: Sequence[int]) -> list[tuple[str, tuple[float, ...]]]:
        return [BOXES[i % len(BOXES)] for i in dict.fromkeys(i % len(BOXES) for i in pick)]

    def _content(self, pick: Sequence[int]) -> tuple[Item, ...]:
        if self.task == "detection":
            return self.model.canonical([(label, *box) for label, box in self._boxes(pick)])
        return self.model.canonical(self._labels(pick))

    def _check(self, ok: bool, what: str) -> None:
        if not ok:
            raise Mismatch(self.step, what)

    def _error(self, body: dict[str, Any], code: str) -> dict[str, Any]:
        errors = body.get("errors") or []
        self._check(bool(errors) and errors[0]["extensions"]["code"] == code,
                    f"expected {code}, got {errors or body.get('data')}")
        return errors[0]

    def _data(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check(not body.get("errors"), f"unexpected error {body.get('errors')}")
        return body["data"]

    def _send_save(self, i: int, op: Op, pick: Sequence[int], version: int) -> dict[str, Any]:
        sid = self.ids[i]
        if self.task == "detection":
            jitter = 1e-12 if op.flag else 0.0
            annotations = [{"label": label, "kind": "BBOX", "box": {"x": x + jitter, "y": y + jitter, "w": w - jitter,
                                                                    "h": h - jitter}}
                           for label, (x, y, w, h) in self._boxes(pick)]
            return self.api.post(SAVE, id=sid, a=annotations, v=version)
        return self.api.post(CLASSIFY, id=sid, l=self._labels(pick), v=version)

    def _versioned(self, op: Op, send: Callable[[int], dict[str, Any]], apply: Callable[[], None],
                   version: int | None = None) -> None:
        """An operation that carries the version its tab saw: CONFLICT if it moved, else the model's change."""
        s = self.model.samples[op.sample]
        version = self.model.seen[op.tab][op.sample] if version is None else version
        body = send(version)
        if version != s.version:
            error = self._error(body, "CONFLICT")
            self._check(error["extensions"].get("currentVersion") == s.version, f"conflict names {error}")
        else:
            apply()
            self._data(body)
        self.model.seen[op.tab][op.sample] = s.version  # after a conflict the tab reloads, as the client does

    def run(self, op: Op) -> None:
        self.step += 1
        m, i, sid = self.model, op.sample, self.ids[op.sample]
        s = m.samples[i]
        if op.kind in ("save", "resave", "stale"):
            pick = self._pick_of(s.confirmed) if op.kind == "resave" else op.pick  # resave: the stored content
            content = self._content(pick)
            stale = s.version - 1 if op.kind == "stale" else None
            self._versioned(op, lambda v: self._send_save(i, op, pick, v), lambda: m.save(i, content), stale)
        elif op.kind == "skip":
            self._versioned(op, lambda v: self.api.post(SKIP, id=sid, v=v), lambda: m.skip(i))
        elif op.kind == "review":
            def apply() -> None:
                s.review = "ACCEPTED" if op.flag else "REJECTED"
                s.version += 1

            if s.status != "LABELED" and self.model.seen[op.tab][i] == s.version:
                self._error(self.api.post(REVIEW, id=sid, ok=op.flag, v=s.version), "VALIDATION")
            else:
                self._versioned(op, lambda v: self.api.post(REVIEW, id=sid, ok=op.flag, v=v), apply)
        elif op.kind == "predict":
            drafts = self._content(op.pick)
            if self.task == "detection":
                new = [AnnotationRecord(label, "BBOX", box, 0.8, True) for label, box in self._boxes(op.pick)]
            else:
                new = [AnnotationRecord(label, "CLASSIFICATION", None, 0.8, True) for label in drafts]
            self.api.predict(int(sid), new)
            m.predict(i, drafts)
        elif op.kind in ("accept", "clear"):
            chosen = sorted({i, *(p % SAMPLES for p in op.pick[:1])})
            want = sum(m.resolve(j, op.kind == "accept") for j in chosen)
            got = self._data(self.api.post(ACCEPT if op.kind == "accept" else CLEAR,
                                           ids=[self.ids[j] for j in chosen]))
            self._check(next(iter(got.values())) == want, f"{op.kind}Drafts answered {got}, the model {want}")
        elif op.kind == "unknown":
            self._error(self.api.post(ACCEPT, ids=[sid, UNKNOWN_ID]), "VALIDATION")
        self.compare()

    def _pick_of(self, content: tuple[Item, ...]) -> tuple[int, ...]:
        if self.task == "detection":
            pool = [(label, *box) for label, box in BOXES]
            return tuple(pool.index(item) for item in content)
        return tuple(CLASSES.index(label) for label in content)

    def compare(self) -> None:
        edges = self._data(self.api.post(STATE, p=self.project))["project"]["samples"]["edges"]
        nodes = {e["node"]["id"]: e["node"] for e in edges}
        for i, sid in enumerate(self.ids):
            node = nodes[sid]
            want = self.model.samples[i]
            got = (node["status"], node["version"], node["reviewStatus"],
                   self.model.canonical([_item(self.task, a) for a in node["annotations"] if not a["isDraft"]]),
                   self.model.canonical([_item(self.task, a) for a in node["annotations"] if a["isDraft"]]))
            self._check(got == (want.status, want.version, want.review, want.confirmed, want.drafts),
                        f"sample {i} holds {got}; the model expects "
                        f"{(want.status, want.version, want.review, want.confirmed, want.drafts)}")


def run_sequence(api: Api, task: str, ops: Sequence[Op]) -> int:
    """Runs the operations on a fresh project of the task; returns how many ran (Mismatch on the first wrong one,
    its message naming the step; the caller prints the sequence)."""
    runner = Runner(api, task)
    for op in ops:
        runner.run(op)
    return len(ops)
