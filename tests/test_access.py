"""Project roles and membership (AUTH_MODE=token users with API tokens): what each role may do, and that ids of a
project the caller is not a member of answer exactly like ids that do not exist, for every operation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLScalarType
from sqlalchemy import event

from schema.build import schema
from settings import Settings
from tests.conftest import make_images
from tests.team import Caller, Team, team_app

SAVE = """mutation($s: ID!, $v: Int){ saveAnnotations(sampleId: $s, expectedVersion: $v, annotations: [
  {label: "cat", kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ id version status } }"""
UPDATE = 'mutation($p: ID!){ updateProject(id: $p, input: {description: "changed"}){ description } }'
MEMBERS = "query($p: ID!){ project(id: $p){ myRole members { user { name } role } } }"


@pytest.fixture
def team(settings: Settings, images_dir: Path) -> Iterator[Team]:
    make_images(images_dir, [f"{i:02}.jpg" for i in range(4)], size=(16, 12))
    with team_app(settings) as t:
        yield t


def test_creators_own_their_projects_and_everyone_sees_only_their_own(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    a = root.project("A")
    b = root.project("B")
    root.add(a, "alice", "OWNER")
    root.add(b, "bob", "VIEWER")
    assert alice("{ projects { name } }")["projects"] == [{"name": "A"}]
    assert bob("{ projects { name myRole } }")["projects"] == [{"name": "B", "myRole": "VIEWER"}]
    assert [p["name"] for p in root("{ projects { name } }")["projects"]] == ["A", "B"]  # admins see all
    assert root(MEMBERS, p=a)["project"] == {"myRole": "OWNER", "members": [
        {"user": {"name": "alice"}, "role": "OWNER"}, {"user": {"name": "root"}, "role": "OWNER"}]}
    assert alice("query($p: ID!){ project(id: $p){ id } }", p=b)["project"] is None
    assert alice("{ jobs { projectId } }")["jobs"] == [{"projectId": a}]
    # non-admins do not create projects or browse every team's volumes
    assert alice.code('mutation{ createProject(input: {name: "X", taskType: DETECTION, classes: ["a"], '
                      'sourceVolume: "/Volumes/test/cvx/images"}){ id } }') == "FORBIDDEN"
    assert bob.code('{ browse(path: "/Volumes/test/cvx/images"){ path } }') == "FORBIDDEN"
    assert alice('{ browse(path: "/Volumes/test/cvx/images"){ path } }')  # owners pick export folders
    preview = "/media/volume-thumbnail?path=/Volumes/test/cvx/images/00.jpg&size=64"
    assert bob.get(preview).status_code == 403 and alice.get(preview).status_code == 200
    assert bob.code("{ instance { backend } }") == "FORBIDDEN"


def test_each_role_does_what_it_may_and_gets_forbidden_beyond(team: Team) -> None:
    root = team["root"]
    pid = root.project("Roles")
    for name, role in (("alice", "VIEWER"), ("bob", "ANNOTATOR"), ("carol", "REVIEWER"), ("dave", "OWNER")):
        root.add(pid, name, role)
    viewer, annotator, reviewer, owner = team["alice"], team["bob"], team["carol"], team["dave"]
    s1, s2, *_ = viewer.sample_ids(pid)
    assert viewer("query($s: ID!){ sample(id: $s){ id } }", s=s1)["sample"] == {"id": s1}
    assert viewer.get(f"/media/samples/{s1}/thumbnail?size=64").status_code == 200
    forbidden = viewer.error(SAVE, s=s1)
    assert forbidden["extensions"]["code"] == "FORBIDDEN" and "annotator" in forbidden["message"]
    assert viewer.code("mutation($p: ID!){ claimNextSample(projectId: $p){ id } }", p=pid) == "FORBIDDEN"
    assert annotator(SAVE, s=s1)["saveAnnotations"]["status"] == "LABELED"
    assert annotator("mutation($s: ID!){ skipSample(sampleId: $s){ status } }", s=s2)["skipSample"]["status"] == \
        "SKIPPED"
    assert annotator.code(UPDATE, p=pid) == "FORBIDDEN"
    assert reviewer.code('mutation($p: ID!){ renameClass(projectId: $p, from: "cat", to: "x"){ id } }',
                         p=pid) == "FORBIDDEN"
    assert annotator.code("mutation($p: ID!){ exportDataset(projectId: $p, input: {format: COCO, destination: "
                          '"/Volumes/test/cvx/exports"}){ id } }', p=pid) == "FORBIDDEN"
    assert reviewer(SAVE, s=s2)["saveAnnotations"]["version"] == 3  # reviewers label too
    assert reviewer.code("mutation($p: ID!){ setProjectMember(projectId: $p, userName: \"bob\", role: OWNER)"
                         "{ role } }", p=pid) == "FORBIDDEN"
    assert owner(UPDATE, p=pid)["updateProject"]["description"] == "changed"
    assert owner.post(f"/uploads/{pid}?name=a.json", content=b"{}",
                      headers={"Content-Type": "application/octet-stream"}).status_code == 200
    assert viewer.post(f"/uploads/{pid}?name=a.json", content=b"{}",
                       headers={"Content-Type": "application/octet-stream"}).status_code == 403


def test_owners_manage_members_by_name_and_a_project_keeps_an_owner(team: Team) -> None:
    root, alice, bob = team["root"], team["alice"], team["bob"]
    pid = root.project("Team")
    root.add(pid, "alice", "OWNER")
    root("mutation($p: ID!){ removeProjectMember(projectId: $p, userName: \"root\") }", p=pid)
    alice.add(pid, "bob", "ANNOTATOR")
    assert bob(MEMBERS, p=pid)["project"]["myRole"] == "ANNOTATOR"
    alice.add(pid, "bob", "REVIEWER")
    assert [m["role"] for m in bob(MEMBERS, p=pid)["project"]["members"]] == ["OWNER", "REVIEWER"]
    last = alice.error('mutation($p: ID!){ setProjectMember(projectId: $p, userName: "alice", role: VIEWER)'
                       "{ role } }", p=pid)
    assert last["extensions"]["code"] == "CONFLICT" and "only owner" in last["message"]
    assert alice.code('mutation($p: ID!){ removeProjectMember(projectId: $p, userName: "alice") }', p=pid) == \
        "CONFLICT"
    assert alice.code('mutation($p: ID!){ setProjectMember(projectId: $p, userName: "nobody", role: VIEWER)'
                      "{ role } }", p=pid) == "NOT_FOUND"
    assert [u["name"] for u in alice('{ users(search: "A") { name } }')["users"]] == ["alice", "carol", "dave"]
    assert bob.code("{ users { name } }") == "FORBIDDEN"  # not an owner of anything
    # a new version starts with the same team, and whoever made it owns it
    clone = alice("mutation($p: ID!){ cloneProject(id: $p){ id } }", p=pid)["cloneProject"]["id"]
    assert [(m["user"]["name"], m["role"]) for m in bob(MEMBERS, p=clone)["project"]["members"]] == [
        ("alice", "OWNER"), ("bob", "REVIEWER")]
    assert alice('mutation($p: ID!){ removeProjectMember(projectId: $p, userName: "bob") }', p=pid) == {
        "removeProjectMember": True}
    assert bob("query($p: ID!){ project(id: $p){ id } }", p=pid)["project"] is None
    assert [v["id"] for v in bob("query($p: ID!){ project(id: $p){ versions { id } root { id } parent { id } } }",
                                 p=clone)["project"]["versions"]] == [clone]


# -- every operation, with ids of a project the caller is not in -------------------------------------------------

_PROJECT = "P"
_SAMPLE = "S"
_JOB = "J"
_TOKEN = "T"
_USER = "U"
MISSING = {_PROJECT: "987654", _SAMPLE: "987655", _JOB: "987656", _TOKEN: "987657", _USER: "987658"}

# field -> (document, variables, the kind of each id variable). `None` as the expected answer means the field is a
# nullable lookup that answers null (for a foreign id as for a missing one) instead of NOT_FOUND.
OPERATIONS: dict[str, tuple[str, dict[str, str]]] = {
    "project": ("query($p: ID!){ project(id: $p){ id } }", {"p": _PROJECT}),
    "sample": ("query($s: ID!){ sample(id: $s){ id } }", {"s": _SAMPLE}),
    "job": ("query($j: ID!){ job(id: $j){ id } }", {"j": _JOB}),
    "jobs": ("query($p: ID!){ jobs(projectId: $p){ id } }", {"p": _PROJECT}),
    "modelStatus": ("query($p: ID!){ modelStatus(projectId: $p){ configured } }", {"p": _PROJECT}),
    "reviewQueue": ("query($p: ID!){ reviewQueue(projectId: $p){ totalCount } }", {"p": _PROJECT}),
    "updateProject": ('mutation($p: ID!){ updateProject(id: $p, input: {name: "x"}){ id } }', {"p": _PROJECT}),
    "renameClass": ('mutation($p: ID!){ renameClass(projectId: $p, from: "cat", to: "x"){ id } }',
                    {"p": _PROJECT}),
    "deleteProject": ("mutation($p: ID!){ deleteProject(id: $p) }", {"p": _PROJECT}),
    "cloneProject": ("mutation($p: ID!){ cloneProject(id: $p){ id } }", {"p": _PROJECT}),
    "rescanProject": ("mutation($p: ID!){ rescanProject(id: $p){ id } }", {"p": _PROJECT}),
    "claimNextSample": ("mutation($p: ID!){ claimNextSample(projectId: $p){ id } }", {"p": _PROJECT}),
    "setClassification": ('mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }',
                          {"s": _SAMPLE}),
    "saveAnnotations": (SAVE, {"s": _SAMPLE}),
    "skipSample": ("mutation($s: ID!){ skipSample(sampleId: $s){ id } }", {"s": _SAMPLE}),
    "acceptDrafts": ("mutation($s: ID!){ acceptDrafts(sampleIds: [$s]) }", {"s": _SAMPLE}),
    "clearDrafts": ("mutation($s: ID!){ clearDrafts(sampleIds: [$s]) }", {"s": _SAMPLE}),
    "suggestAnnotations": ("mutation($s: ID!){ suggestAnnotations(sampleId: $s){ id } }", {"s": _SAMPLE}),
    "reviewSample": ("mutation($s: ID!){ reviewSample(sampleId: $s, accept: true){ id } }", {"s": _SAMPLE}),
    "importAnnotations": ('mutation($p: ID!){ importAnnotations(projectId: $p, input: {format: COCO, '
                          'path: "/Volumes/test/cvx/images/none.json"}){ id } }', {"p": _PROJECT}),
    "exportDataset": ('mutation($p: ID!){ exportDataset(projectId: $p, input: {format: COCO, '
                      'destination: "/Volumes/test/cvx/exports"}){ id } }', {"p": _PROJECT}),
    "preannotate": ("mutation($p: ID!){ preannotate(projectId: $p){ id } }", {"p": _PROJECT}),
    "cancelJob": ("mutation($j: ID!){ cancelJob(id: $j){ id } }", {"j": _JOB}),
    "setModelSettings": ("mutation($p: ID!){ setModelSettings(projectId: $p){ id } }", {"p": _PROJECT}),
    "modelConfigured": ("query($p: ID!){ modelConfigured(projectId: $p) }", {"p": _PROJECT}),
    "labelSettings": ("query($p: ID!){ labelSettings(projectId: $p){ afterSave } }", {"p": _PROJECT}),
    "setProjectKeyMap": ("mutation($p: ID!){ setProjectKeyMap(projectId: $p){ id } }", {"p": _PROJECT}),
    "setMyLabelSettings": ("mutation($p: ID!){ setMyLabelSettings(projectId: $p, afterSave: NEEDS_WORK)"
                           "{ afterSave } }", {"p": _PROJECT}),
    "addClass": ('mutation($p: ID!){ addClass(projectId: $p, name: "new"){ id } }', {"p": _PROJECT}),
    "setProjectMember": ('mutation($p: ID!){ setProjectMember(projectId: $p, userName: "alice", role: OWNER)'
                         "{ role } }", {"p": _PROJECT}),
    "removeProjectMember": ('mutation($p: ID!){ removeProjectMember(projectId: $p, userName: "bob") }',
                            {"p": _PROJECT}),
    "projectStats": ("subscription($p: ID!){ projectStats(projectId: $p){ total } }", {"p": _PROJECT}),
    "sampleChanged": ("subscription($p: ID!){ sampleChanged(projectId: $p){ id } }", {"p": _PROJECT}),
    "labelSettingsChanged": ("subscription($p: ID!){ labelSettingsChanged(projectId: $p){ afterSave } }",
                             {"p": _PROJECT}),
    "jobProgress": ("subscription($j: ID!){ jobProgress(jobId: $j){ id } }", {"j": _JOB}),
    "revokeApiToken": ("mutation($t: ID!){ revokeApiToken(id: $t){ id } }", {"t": _TOKEN}),
    "volumeShares": ("query($u: ID!){ volumeShares(userId: $u){ id } }", {"u": _USER}),
    "shareVolume": ('mutation($u: ID!){ shareVolume(path: "/Volumes/test/cvx/images", userId: $u){ id } }',
                    {"u": _USER}),
    "unshareVolume": ('mutation($u: ID!){ unshareVolume(path: "/Volumes/test/cvx/images", userId: $u) }',
                      {"u": _USER}),
    "projectDrafts": ("query($p: ID!){ projectDrafts(projectId: $p){ drafts } }", {"p": _PROJECT}),
    "acceptProjectDrafts": ("mutation($p: ID!){ acceptProjectDrafts(projectId: $p, expectedDrafts: 0){ id } }",
                            {"p": _PROJECT}),
    "clearProjectDrafts": ("mutation($p: ID!){ clearProjectDrafts(projectId: $p, expectedDrafts: 0){ id } }",
                           {"p": _PROJECT}),
    "pastExports": ("query($p: ID!){ pastExports(projectId: $p){ path } }", {"p": _PROJECT}),
    "missingSamples": ("query($p: ID!){ missingSamples(projectId: $p){ samples } }", {"p": _PROJECT}),
    "purgeMissingSamples": ("mutation($p: ID!){ purgeMissingSamples(projectId: $p, expectedSamples: 0) }",
                            {"p": _PROJECT}),
    "changeSourceFolder": ('mutation($p: ID!){ changeSourceFolder(projectId: $p, sourceVolume: '
                           '"/Volumes/test/cvx/exports"){ id } }', {"p": _PROJECT}),
    "findDuplicates": ("mutation($p: ID!){ findDuplicates(projectId: $p){ id } }", {"p": _PROJECT}),
    "setConsensusSettings": ("mutation($p: ID!){ setConsensusSettings(projectId: $p, input: {overlap: 3}){ id } }",
                             {"p": _PROJECT}),
    "recomputeAgreement": ("mutation($p: ID!){ recomputeAgreement(projectId: $p){ id } }", {"p": _PROJECT}),
    "adjudicationQueue": ("query($p: ID!){ adjudicationQueue(projectId: $p){ totalCount } }", {"p": _PROJECT}),
    "adjudicateSample": ('mutation($s: ID!){ adjudicateSample(sampleId: $s, pick: "bob"){ id } }', {"s": _SAMPLE}),
    "evaluateModel": ("mutation($p: ID!){ evaluateModel(projectId: $p){ id } }", {"p": _PROJECT}),
    "modelEvaluation": ("query($p: ID!){ modelEvaluation(projectId: $p){ id } }", {"p": _PROJECT}),
    "likelyLabelErrors": ("query($p: ID!){ likelyLabelErrors(projectId: $p){ totalCount } }", {"p": _PROJECT}),
    "judgeLabelError": ("mutation($s: ID!){ judgeLabelError(sampleId: $s, verdict: NOT_AN_ERROR){ reason } }",
                        {"s": _SAMPLE}),
    "assignSplits": ("mutation($p: ID!){ assignSplits(projectId: $p, train: 0.8, validation: 0.1, test: 0.1){ id } }",
                     {"p": _PROJECT}),
}
NULLABLE = {"project", "sample", "job"}
BULK = {"acceptDrafts", "clearDrafts"}  # lists of ids: the unknown ones are named together, as VALIDATION
ADMINS_ONLY = {"volumeShares", "shareVolume", "unshareVolume"}  # FORBIDDEN to others whatever the ids
ROUTES = {  # HTTP routes that name a project, sample or job: path template -> (method, id kind)
    "/media/samples/{}/image": ("GET", _SAMPLE),
    "/media/samples/{}/thumbnail": ("GET", _SAMPLE),
    "/uploads/{}?name=labels.json": ("POST", _PROJECT),
    "/exports/{}.zip": ("GET", _JOB),
}


def _id_fields() -> set[str]:
    """Every root field of the schema that takes an id: each must be walked below."""
    out = set()
    for root in (schema._schema.query_type, schema._schema.mutation_type, schema._schema.subscription_type):
        for name, f in root.fields.items():
            for arg in f.args.values():
                t = arg.type
                while isinstance(t, GraphQLNonNull | GraphQLList):
                    t = t.of_type
                if isinstance(t, GraphQLScalarType) and t.name == "ID":
                    out.add(name)
    return out


def _answer(caller: Caller, name: str, ids: dict[str, str]) -> Any:
    """What the operation answers for these ids: None for null data, else the first error's (code, message)."""
    document, variables = OPERATIONS[name]
    values = {k: ids[kind] for k, kind in variables.items()}
    if document.startswith("subscription"):
        with caller.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {caller.token}"}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": document, "variables": values}})
            msg = ws.receive_json()
            errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
            assert errors, msg
            return errors[0]["extensions"]["code"], errors[0]["message"]
    body = caller.raw(document, **values)
    if not body.get("errors"):
        assert next(iter(body["data"].values())) is None, (name, body)
        return None
    return body["errors"][0]["extensions"]["code"], body["errors"][0]["message"]


def _same(answer: Any, name: str, ids: dict[str, str]) -> Any:
    """The answer with the id it names replaced by its kind, to compare a foreign id's with a missing one's."""
    if answer is None:
        return None
    code, message = answer
    for kind in OPERATIONS[name][1].values():
        message = re.sub(rf"\b{ids[kind]}\b", kind, message)
    return code, message


def test_foreign_ids_answer_exactly_like_missing_ones_in_every_operation(team: Team) -> None:
    root, alice = team["root"], team["alice"]
    mine, theirs = root.project("Mine"), root.project("Theirs")
    root.add(mine, "alice", "OWNER")  # alice may do everything in her own project: only membership can stop her
    root.add(theirs, "bob", "OWNER")
    foreign = {_PROJECT: theirs, _SAMPLE: root.sample_ids(theirs)[0],
               _JOB: root(f'{{ jobs(projectId: "{theirs}"){{ id }} }}')["jobs"][0]["id"],
               _TOKEN: team["bob"]("{ myApiTokens { id } }")["myApiTokens"][0]["id"],
               _USER: team["bob"]("{ me { id } }")["me"]["id"]}
    assert _id_fields() <= set(OPERATIONS), f"walk these too: {_id_fields() - set(OPERATIONS)}"
    for name in sorted(set(OPERATIONS) & _id_fields()):
        got = _same(_answer(alice, name, foreign), name, foreign)
        want = _same(_answer(alice, name, MISSING), name, MISSING)
        assert got == want, (name, got, want)
        expected = "VALIDATION" if name in BULK else "FORBIDDEN" if name in ADMINS_ONLY else "NOT_FOUND"
        assert got is None if name in NULLABLE else got[0] == expected, (name, got)
    for template, (method, kind) in ROUTES.items():
        answers = []
        for ids in (foreign, MISSING):
            r = alice.client.request(method, template.format(ids[kind]), content=b"{}" if method == "POST" else None,
                                     headers={**alice.headers, "Content-Type": "application/octet-stream"})
            answers.append((r.status_code, r.json()["code"], r.json()["error"].replace(ids[kind], kind)))
        assert answers[0] == answers[1] and answers[0][:2] == (404, "NOT_FOUND"), (template, answers)
    # nothing happened to the other team's project
    theirs_now = root("query($p: ID!){ project(id: $p){ name stats { labeled } members { user { name } } } }",
                      p=theirs)["project"]
    assert theirs_now == {"name": "Theirs", "stats": {"labeled": 0},
                          "members": [{"user": {"name": "bob"}}, {"user": {"name": "root"}}]}


def test_the_save_path_pays_one_statement_for_the_check_and_admins_none(team: Team) -> None:
    root, bob = team["root"], team["bob"]
    pid = root.project("Fast")
    root.add(pid, "bob", "ANNOTATOR")
    s1, s2, *_ = root.sample_ids(pid)
    seen: list[str] = []
    engine = team.client.app.state.services.db.engine
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    root(SAVE, s=s1)
    admin_statements = [q for q in seen if "project_members" in q]
    seen.clear()
    bob(SAVE, s=s2)
    member_statements = [q for q in seen if "project_members" in q]
    assert admin_statements == [] and len(member_statements) == 1, member_statements


STATS_SUB = "subscription($p: ID!){ projectStats(projectId: $p){ labeled } }"


def _next_answer(ws: Any) -> tuple[str, Any]:
    """The subscription's next emission: ("next", labeled) or ("error", code)."""
    msg = ws.receive_json()
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
    if errors:
        return "error", errors[0]["extensions"]["code"]
    assert msg["type"] == "next", msg
    return "next", msg["payload"]["data"]["projectStats"]["labeled"]


@pytest.mark.parametrize("loss", ["membership", "token"])
def test_an_open_subscription_ends_when_its_user_loses_access(team: Team, monkeypatch: pytest.MonkeyPatch,
                                                             loss: str) -> None:
    from db import auth
    from resolvers import still_allowed as access

    monkeypatch.setattr(access, "RECHECK_SECONDS", 0.0)
    root, alice = team["root"], team["alice"]
    pid = root.project("Watched")
    root.add(pid, "alice", "VIEWER")
    first, second = root.sample_ids(pid)[:2]
    with team.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": STATS_SUB, "variables": {"p": pid}}})
        assert _next_answer(ws) == ("next", 0)
        root(SAVE, s=first)
        assert _next_answer(ws) == ("next", 1)
        if loss == "membership":
            root("mutation($p: ID!){ removeProjectMember(projectId: $p, userName: \"alice\") }", p=pid)
        else:
            db = team.client.app.state.services.db
            for info in team.client.portal.call(db.read, auth.list_tokens, "alice"):
                team.client.portal.call(db.write, auth.revoke_token, info.id)
        root(SAVE, s=second)
        expected = "NOT_FOUND" if loss == "membership" else "UNAUTHENTICATED"
        assert _next_answer(ws) == ("error", expected)
