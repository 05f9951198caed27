"""Unity Catalog volumes: one contract suite run on local folders and on the real databricks-sdk against the local
workspace emulator; then what only a remote store does (403, 429, paging calls, credentials) and the app end to end."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import errors as sdk_errors
from PIL import Image
from starlette.testclient import TestClient

from db.errors import Forbidden, Invalid, NotFound, Unavailable
from server import create_app
from settings import Settings, SettingsError
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job
from tests.databricks_emulator import ApiError, DatabricksEmulator, Reply, Request, Route
from volumes.base import Volumes
from volumes.local import LocalVolumes
from volumes.paths import parse
from volumes.unity_catalog import UnityCatalogVolumes, connect

VOL = "/Volumes/cat/sch/vol"
OTHER_VOLUMES = ["/Volumes/cat/sch/other", "/Volumes/cat2/s2/v2"]


@dataclass
class Store:
    """A backend under test plus direct access to what it stores (bypassing the backend)."""

    volumes: Volumes
    put: Callable[[str, bytes], None]  # full volume path -> bytes
    mkdir: Callable[[str], None]
    read: Callable[[str], bytes | None]  # None when absent


def _local(tmp_path: Path) -> Store:
    mounts = {v: tmp_path / v.replace("/", "_") for v in (VOL, *OTHER_VOLUMES)}
    for folder in mounts.values():
        folder.mkdir()
    real = LocalVolumes(mounts)

    def local(path: str) -> Path:
        vp = parse(path)
        return real.mounts[vp.parts[:3]].joinpath(*vp.inner)

    def put(path: str, data: bytes) -> None:
        local(path).parent.mkdir(parents=True, exist_ok=True)
        local(path).write_bytes(data)

    def read(path: str) -> bytes | None:
        p = local(path)
        return p.read_bytes() if p.is_file() else None

    return Store(real, put, lambda p: local(p).mkdir(parents=True, exist_ok=True), read)


def _remote(emu: DatabricksEmulator, page_size: int) -> Store:
    for v in (VOL, *OTHER_VOLUMES):
        emu.add_volume(v)

    def mkdir(path: str) -> None:
        emu.put_file(path + "/.keep", b"")  # the emulator makes the parents; the hidden file is never listed

    def read(path: str) -> bytes | None:
        return emu.files[path].data if path in emu.files else None

    client = connect(host=emu.url, token=emu.token, retry_seconds=3, longest_wait=0.2)
    return Store(UnityCatalogVolumes(client, page_size=page_size), emu.put_file, mkdir, read)


@pytest.fixture(params=["local", "unity_catalog"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return _local(tmp_path)
    return _remote(request.getfixturevalue("databricks"), page_size=100)  # small pages: listings span several


def _names(entries: list) -> list[str]:
    return [e.name for e in entries]


# -- the contract, on both backends ---------------------------------------------------------------------------


def test_catalogs_schemas_and_volumes(store: Store) -> None:
    v = store.volumes
    assert _names(v.list(parse("/Volumes"))) == ["cat", "cat2"]
    assert [e.path for e in v.list(parse("/Volumes/cat"))] == ["/Volumes/cat/sch"]
    assert [(e.name, e.is_dir) for e in v.list(parse("/Volumes/cat/sch"))] == [("other", True), ("vol", True)]
    for missing in ("/Volumes/nope", "/Volumes/cat/nope"):
        with pytest.raises(NotFound):
            v.list(parse(missing))
    v.check_folder(parse("/Volumes/cat"))
    v.check_folder(parse(VOL))


def test_folder_listing_sorted_hidden_skipped(store: Store) -> None:
    store.put(f"{VOL}/b.jpg", b"bb")
    store.put(f"{VOL}/a.png", b"a")
    store.put(f"{VOL}/.hidden.jpg", b"h")
    store.put(f"{VOL}/zsub/c.jpg", b"ccc")
    store.mkdir(f"{VOL}/asub")
    listing = store.volumes.list(parse(VOL))
    assert [(e.name, e.is_dir) for e in listing] == [("asub", True), ("zsub", True), ("a.png", False),
                                                     ("b.jpg", False)]
    assert [e.path for e in listing][:1] == [f"{VOL}/asub"]
    assert listing[3].size == 2 and listing[3].mtime_ns
    with pytest.raises(NotFound):
        store.volumes.list(parse(f"{VOL}/nope"))
    with pytest.raises(NotFound):
        store.volumes.check_folder(parse(f"{VOL}/nope"))


def test_listing_over_several_pages(store: Store) -> None:
    for i in range(250):
        store.put(f"{VOL}/many/img{i:04}.jpg", b"x")
    store.put(f"{VOL}/many/IMG-special.jpg", b"x")
    listing = store.volumes.list(parse(f"{VOL}/many"))
    assert len(listing) == 251 and _names(listing) == sorted(_names(listing))
    seen, after, pages = [], None, 0
    while True:
        page = store.volumes.browse(parse(f"{VOL}/many"), first=100, after=after)
        assert page.total == 251
        seen += _names(page.entries)
        pages += 1
        after = page.next_cursor
        if after is None:
            break
    assert pages == 3 and seen == _names(listing)
    matched = store.volumes.browse(parse(f"{VOL}/many"), name_filter="img-SPE")
    assert _names(matched.entries) == ["IMG-special.jpg"] and matched.total == 1 and matched.next_cursor is None
    with pytest.raises(Invalid):
        store.volumes.browse(parse(f"{VOL}/many"), first=10, after="not a cursor")


def test_walk_files_in_name_order(store: Store) -> None:
    """Each folder's files by name, then its subfolders by name: the order a scan numbers samples in."""
    for name in ("m.jpg", "sub/b.jpg", "a.jpg", "sub/deeper/c.png", ".hidden/d.jpg", "sub/.e.jpg", "z.jpg",
                 "another/x.jpg"):
        store.put(f"{VOL}/photos/{name}", b"img")
    walked = [e.path[len(VOL) + 8:] for e in store.volumes.walk_files(parse(f"{VOL}/photos"))]
    assert walked == ["a.jpg", "m.jpg", "z.jpg", "another/x.jpg", "sub/b.jpg", "sub/deeper/c.png"]
    assert all(not e.is_dir and e.size == 3 for e in store.volumes.walk_files(parse(f"{VOL}/photos")))
    with pytest.raises(NotFound):
        list(store.volumes.walk_files(parse(f"{VOL}/gone")))


def test_stat_and_open(store: Store) -> None:
    big = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MB: several download chunks
    store.put(f"{VOL}/big.bin", big)
    st = store.volumes.stat(parse(f"{VOL}/big.bin"))
    assert st.size == len(big) and st.mtime_ns > 0
    with store.volumes.open(parse(f"{VOL}/big.bin")) as fp:
        assert fp.read(10) == big[:10]
        fp.seek(0)  # seekable: image decoders need it
        assert fp.read() == big
    store.put(f"{VOL}/folder/inside.jpg", b"x")
    with pytest.raises(Invalid, match="not a file"):
        store.volumes.stat(parse(f"{VOL}/folder"))
    for missing in (f"{VOL}/nope.jpg", "/Volumes/cat/sch/unknown_volume/x.jpg"):
        with pytest.raises(NotFound):
            store.volumes.stat(parse(missing))
        with pytest.raises(NotFound):
            store.volumes.open(parse(missing))


def test_write_and_overwrite(store: Store) -> None:
    path = parse(f"{VOL}/out/new.json")
    store.volumes.write(path, b"one")
    assert store.read(path.text) == b"one"
    with pytest.raises(Invalid, match="already exists"):
        store.volumes.write(path, b"two")
    assert store.read(path.text) == b"one"
    store.volumes.write(path, b"three", overwrite=True)
    assert store.read(path.text) == b"three"
    assert store.volumes.stat(path).size == 5


def test_writer_appears_only_when_the_block_succeeds(store: Store) -> None:
    path = parse(f"{VOL}/up/file.bin")
    with pytest.raises(RuntimeError), store.volumes.writer(path) as fp:
        fp.write(b"partial")
        raise RuntimeError("the upload was cut")
    assert store.read(path.text) is None
    with store.volumes.writer(path) as fp:
        for _ in range(4):
            fp.write(b"0123456789" * 1000)
        assert store.read(path.text) is None  # not before the block ends
    assert store.read(path.text) == b"0123456789" * 4000
    with pytest.raises(Invalid, match="already exists"), store.volumes.writer(path):
        pass


def test_make_dirs(store: Store) -> None:
    store.volumes.make_dirs(parse(f"{VOL}/a/b/c"))
    store.volumes.make_dirs(parse(f"{VOL}/a/b/c"))  # idempotent
    assert _names(store.volumes.list(parse(f"{VOL}/a/b"))) == ["c"]
    store.volumes.check_folder(parse(f"{VOL}/a/b/c"))
    store.volumes.write(parse(f"{VOL}/a/b/c/x.txt"), b"x")
    assert _names(store.volumes.list(parse(f"{VOL}/a/b/c"))) == ["x.txt"]


# -- only a remote store -----------------------------------------------------------------------------------------


@pytest.fixture
def uc(databricks: DatabricksEmulator) -> UnityCatalogVolumes:
    store = _remote(databricks, page_size=1000)
    assert isinstance(store.volumes, UnityCatalogVolumes)
    return store.volumes


def test_every_call_carries_the_token_and_pages_with_page_tokens(databricks: DatabricksEmulator,
                                                                uc: UnityCatalogVolumes) -> None:
    for i in range(2_500):
        databricks.put_file(f"{VOL}/many/{i:05}.jpg", b"x")
    assert len(uc.list(parse(f"{VOL}/many"))) == 2_500
    pages = databricks.calls("GET", "/api/2.0/fs/directories/Volumes/cat/sch/vol/many")
    assert len(pages) == 3 and [("page_token" in p.params) for p in pages] == [False, True, True]
    assert all(p.params["page_size"] == "1000" for p in pages)
    api = databricks.calls(path_prefix="/api/")
    assert api and all(r.headers["authorization"] == f"Bearer {databricks.token}" for r in api)
    assert all(r.headers.get("x-databricks-workspace-id") == databricks.workspace_id for r in api)


def test_thousands_of_catalogs_are_paged_and_remembered(databricks: DatabricksEmulator) -> None:
    for i in range(1_050):
        databricks.add_catalog(f"team_{(i * 7919) % 1_050:04}")  # stored in no particular order
    uc = UnityCatalogVolumes(connect(host=databricks.url, token=databricks.token), page_size=500)
    names = _names(uc.list(parse("/Volumes")))
    assert len(names) == 1_050 and names == sorted(names)
    calls = databricks.calls("GET", "/api/2.1/unity-catalog/catalogs")
    assert len(calls) == 3 and calls[0].params["max_results"] == "500" and "page_token" in calls[2].params
    page = uc.browse(parse("/Volumes"), name_filter="TEAM_100", first=5)
    assert _names(page.entries) == [f"team_{i}" for i in range(1000, 1005)] and page.total == 10
    uc.browse(parse("/Volumes"), first=5, after=page.next_cursor)
    assert len(databricks.calls("GET", "/api/2.1/unity-catalog/catalogs")) == 3  # names are reused for a while


def test_permission_denied_is_forbidden_and_names_the_path(databricks: DatabricksEmulator,
                                                           uc: UnityCatalogVolumes) -> None:
    databricks.put_file(f"{VOL}/secret/a.jpg", b"x")
    databricks.put_file(f"{VOL}/open/b.jpg", b"y")
    databricks.deny(f"{VOL}/secret")
    for call in (lambda: uc.open(parse(f"{VOL}/secret/a.jpg")), lambda: uc.list(parse(f"{VOL}/secret")),
                 lambda: uc.write(parse(f"{VOL}/secret/new.jpg"), b"z")):
        with pytest.raises(Forbidden) as err:
            call()
        assert f"{VOL}/secret" in err.value.message and "PERMISSION_DENIED" in err.value.message
    assert "WRITE VOLUME" in _raised(lambda: uc.write(parse(f"{VOL}/secret/n.jpg"), b"z")).message
    assert uc.open(parse(f"{VOL}/open/b.jpg")).read() == b"y"


def _raised(fn: Callable[[], object]) -> Forbidden:
    with pytest.raises(Forbidden) as err:
        fn()
    return err.value


def test_throttling_is_retried_then_succeeds(databricks: DatabricksEmulator, uc: UnityCatalogVolumes) -> None:
    databricks.put_file(f"{VOL}/a.jpg", b"abc")
    databricks.throttle(2, retry_after=0, prefix=f"{VOL}/a.jpg")
    assert uc.stat(parse(f"{VOL}/a.jpg")).size == 3
    heads = databricks.calls("HEAD", "/api/2.0/fs/files/Volumes/cat/sch/vol/a.jpg")
    assert [h.status for h in heads] == [429, 429, 200]


def test_throttling_forever_fails_clearly_in_bounded_time(databricks: DatabricksEmulator) -> None:
    databricks.add_volume(VOL)
    databricks.put_file(f"{VOL}/a.jpg", b"abc")
    databricks.throttle(None, retry_after=3600)  # an absurd Retry-After must not hold the request for an hour
    uc = UnityCatalogVolumes(connect(host=databricks.url, token=databricks.token, retry_seconds=1, longest_wait=0.3))
    t0 = time.monotonic()
    with pytest.raises(Unavailable, match="kept throttling") as err:
        uc.open(parse(f"{VOL}/a.jpg"))
    assert time.monotonic() - t0 < 4
    assert f"{VOL}/a.jpg" in err.value.message and len(databricks.calls("GET", "/api/2.0/fs/files")) >= 2


def test_other_failures_are_unavailable_with_the_reason(databricks: DatabricksEmulator,
                                                         uc: UnityCatalogVolumes) -> None:
    databricks.put_file(f"{VOL}/a.jpg", b"abc")
    databricks.inject(500, "INTERNAL_ERROR", "storage backend exploded", prefix=f"{VOL}/a.jpg", times=1)
    with pytest.raises(Unavailable, match="INTERNAL_ERROR: storage backend exploded"):
        uc.open(parse(f"{VOL}/a.jpg"))
    assert uc.open(parse(f"{VOL}/a.jpg")).read() == b"abc"
    databricks.inject(400, "INVALID_PARAMETER_VALUE", "path is not valid", prefix=f"{VOL}/a.jpg", times=1)
    with pytest.raises(Invalid, match=r"refused to read .*INVALID_PARAMETER_VALUE"):
        uc.open(parse(f"{VOL}/a.jpg"))
    wrong = UnityCatalogVolumes(connect(host=databricks.url, token="dapi-wrong", retry_seconds=1))
    with pytest.raises(Unavailable, match="credentials"):
        wrong.list(parse(VOL))
    unconfigured = UnityCatalogVolumes(lambda: connect(host=databricks.url))  # no token, no OAuth client
    with pytest.raises(Unavailable, match="not configured"):
        unconfigured.list(parse(VOL))


def test_the_emulator_takes_new_routes(databricks: DatabricksEmulator) -> None:
    """How Jobs, Lakebase or Serving endpoints get added: one handler and one Route (here for one test)."""
    def get_run(emu: DatabricksEmulator, req: Request) -> Reply:
        run = emu.state.get("runs", {}).get(req.params.get("run_id"))
        if run is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", "Run does not exist.")
        return Reply(200, run)

    with DatabricksEmulator(routes=[Route("GET", "/api/2.2/jobs/runs/get", get_run)]) as emu:
        emu.state["runs"] = {"7": {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}}}
        w = connect(host=emu.url, token=emu.token, retry_seconds=1)
        assert w.jobs.get_run(7).state.life_cycle_state.value == "RUNNING"
        with pytest.raises(sdk_errors.NotFound):
            w.jobs.get_run(8)
        assert [c.params for c in emu.calls("GET", "/api/2.2/jobs")] == [{"run_id": "7"}, {"run_id": "8"}]


# -- settings and the app ---------------------------------------------------------------------------------------


def test_settings_name_the_missing_variable() -> None:
    with pytest.raises(SettingsError, match="DATABRICKS_HOST"):
        Settings.from_env({"VOLUMES_BACKEND": "unity_catalog"})
    with pytest.raises(SettingsError, match="VOLUMES_BACKEND"):
        Settings.from_env({"VOLUMES_BACKEND": "s3"})
    ok = Settings.from_env({"VOLUMES_BACKEND": "unity_catalog", "DATABRICKS_HOST": "https://w.example.com"})
    assert ok.volumes_backend == "unity_catalog" and Settings.from_env({}).volumes_backend == "local"


def _jpeg(i: int, size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, ((i * 40) % 256, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def uc_client(settings: Settings, databricks: DatabricksEmulator) -> Iterator[TestClient]:
    """The app with VOLUMES_BACKEND=unity_catalog on the emulator, beside the usual local mounts."""
    uc_settings = dataclasses.replace(settings, volumes_backend="unity_catalog", databricks_host=databricks.url,
                                      serving_token=databricks.token)
    with TestClient(create_app(uc_settings)) as c:
        yield c


BROWSE = """query($p: String!, $f: String, $first: Int, $after: String){ browse(path: $p, filter: $f, first: $first,
  after: $after){ path totalCount pageInfo { hasNextPage endCursor } entries { name path isDir size } } }"""


def test_browse_pages_and_filters_through_the_api(uc_client: TestClient, databricks: DatabricksEmulator) -> None:
    for i in range(1_200):
        databricks.add_catalog(f"dept_{i:04}")
    databricks.add_volume("/Volumes/test/uc_only/photos")  # the `test` catalog also holds local mounts
    top = gql(uc_client, BROWSE, p="/Volumes", first=500)["browse"]
    assert top["totalCount"] == 1_202 and len(top["entries"]) == 500 and top["pageInfo"]["hasNextPage"]
    names = [e["name"] for e in top["entries"]]
    after = top["pageInfo"]["endCursor"]
    while after:
        page = gql(uc_client, BROWSE, p="/Volumes", first=500, after=after)["browse"]
        names += [e["name"] for e in page["entries"]]
        after = page["pageInfo"]["endCursor"]
    assert names == sorted(names) and len(names) == 1_202 and {"local", "test"} <= set(names)
    hits = gql(uc_client, BROWSE, p="/Volumes", f="DEPT_011")["browse"]
    assert [e["name"] for e in hits["entries"]] == [f"dept_011{i}" for i in range(10)]
    assert hits["totalCount"] == 10 and not hits["pageInfo"]["hasNextPage"]
    merged = gql(uc_client, BROWSE, p="/Volumes/test")["browse"]["entries"]
    assert [e["name"] for e in merged] == ["cvx", "uc_only"]  # local mounts and Unity Catalog side by side
    assert gql_error(uc_client, BROWSE, p="/Volumes/nope")["extensions"]["code"] == "NOT_FOUND"


def test_project_from_a_unity_catalog_folder(uc_client: TestClient, databricks: DatabricksEmulator) -> None:
    folder = databricks.add_volume("/Volumes/uc/vision/photos")
    for i in range(12):
        databricks.put_file(f"{folder}/street/{i:02}.jpg", _jpeg(i))
    databricks.put_file(f"{folder}/street/notes.txt", b"not an image")
    databricks.put_file(f"{folder}/street/.hidden.jpg", _jpeg(99))
    project = create_project(uc_client, folder=f"{folder}/street")
    assert project["scan"]["status"] == "SUCCEEDED" and project["scan"]["result"]["imagesFound"] == 12
    q = """query($id: ID!){ project(id: $id){ samples(first: 50){ totalCount edges { node { filename
           thumbnailUrl(size: 128) imageUrl } } } } }"""
    samples = gql(uc_client, q, id=project["id"])["project"]["samples"]
    assert samples["totalCount"] == 12
    node = samples["edges"][0]["node"]
    calls = len(databricks.calls())
    thumb = uc_client.get(node["thumbnailUrl"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (128, 96)
    path = f"/api/2.0/fs/files{folder}/street/{node['filename']}"
    assert [(c.method, c.path) for c in databricks.calls()[calls:]] == [("GET", path)]  # stat: from the scan
    assert uc_client.get(node["thumbnailUrl"]).content == thumb.content
    assert len(databricks.calls()) == calls + 1  # warm: from the local cache, no call to the workspace at all
    downloads = len(databricks.calls("GET", path))
    full = uc_client.get(node["imageUrl"])
    assert full.status_code == 200 and full.content == databricks.read_file(f"{folder}/street/{node['filename']}")
    assert len(databricks.calls("GET", path)) == downloads + 1  # the original, downloaded once
    other = samples["edges"][1]["node"]  # listed by the scan, never shown: its bytes are fetched only now
    databricks.deny(f"{folder}/street/{other['filename']}")
    denied = uc_client.get(other["thumbnailUrl"])
    assert denied.status_code == 403 and other["filename"] in denied.json()["error"]


def test_export_to_a_unity_catalog_volume(uc_client: TestClient, databricks: DatabricksEmulator,
                                          images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(uc_client, task="CLASSIFICATION")
    edges = gql(uc_client, 'query($id: ID!){ project(id: $id){ samples(first: 10){ edges { node { id } } } } }',
                id=project["id"])["project"]["samples"]["edges"]
    for e in edges:
        gql(uc_client, 'mutation($s: ID!){ setClassification(sampleId: $s, labels: ["cat"]){ id } }', s=e["node"]["id"])
    dest = databricks.add_volume("/Volumes/uc/vision/exports")
    job = gql(uc_client, """mutation($p: ID!, $d: String!){ exportDataset(projectId: $p, input: {format: JSONL,
              destination: $d, includeImages: true}) { id } }""", p=project["id"], d=dest)["exportDataset"]
    done = wait_for_job(uc_client, job["id"])
    assert done["status"] == "SUCCEEDED", done
    written = sorted(p for p in databricks.files if p.startswith(dest + "/"))
    assert any(p.endswith("/metadata.json") for p in written)
    assert sum(p.endswith(".jpg") for p in written) == 2


def test_uploads_go_to_the_export_volume_where_a_worker_run_can_read_them(
        settings: Settings, databricks: DatabricksEmulator, images_dir: Path, tmp_path: Path) -> None:
    """A browser upload in Unity Catalog mode is written to the export volume (the app's disk is not a cluster's),
    and the import reads it back from there."""
    exports = databricks.add_volume("/Volumes/uc/vision/exports")
    uc_settings = dataclasses.replace(settings, volumes_backend="unity_catalog", databricks_host=databricks.url,
                                      serving_token=databricks.token, export_volume=exports)
    make_images(images_dir, ["a.jpg"])
    with TestClient(create_app(uc_settings)) as client:
        project = create_project(client)
        box = {"label": "dog", "ann_type": "bbox", "bbox_json": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}
        line = json.dumps({"filename": "a.jpg", "annotations": [box]})
        r = client.post(f"/uploads/{project['id']}", params={"name": "labels.jsonl"}, content=line.encode(),
                        headers={"content-type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        path = r.json()["path"]
        assert path.startswith(f"{exports}/uploads/{project['id']}/") and databricks.read_file(path) == line.encode()
        job = gql(client, """mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){
                  id } }""", p=project["id"], i={"path": path, "format": "JSONL"})["importAnnotations"]
        done = wait_for_job(client, job["id"])
    assert done["status"] == "SUCCEEDED" and done["result"]["annotationsCreated"] == 1, done
    assert not [p for p in (tmp_path / "data").rglob("*labels.jsonl")]  # nothing on the app's own disk
