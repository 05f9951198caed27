"""The examples in sdk/examples, run as a user runs them (a subprocess with CVEXPLORER_URL / CVEXPLORER_TOKEN)
against a real server on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from tests.sdk_live import IMAGES, SdkServer

EXAMPLES = Path(__file__).resolve().parents[1] / "sdk" / "examples"


def _example(sdk: SdkServer, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CVEXPLORER_URL": sdk.url, "CVEXPLORER_TOKEN": sdk.token,
           "PYTHONPATH": str(EXAMPLES.parent)}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_prelabelling_with_your_own_model_uploads_drafts(sdk: SdkServer) -> None:
    folder = sdk.images / "prelabel"
    folder.mkdir()
    for i in range(3):  # a grey photo with one dark object at a known place
        image = Image.new("RGB", (200, 100), (200, 200, 200))
        ImageDraw.Draw(image).rectangle((20 + 40 * i, 10, 59 + 40 * i, 49), fill=(20, 20, 20))
        image.save(folder / f"{i}.png")
    cvx = sdk.client()
    project = cvx.create_project("Prelabel", f"{IMAGES}/prelabel", ["car", "person"])
    done = _example(sdk, "prelabel_with_my_model.py", "Prelabel", "car")
    assert done.returncode == 0, done.stderr
    assert "stored 3 drafts on 3 images" in done.stdout
    drafts = {s.filename: s.annotations for s in cvx.samples(project, status="PRE_LABELED")}
    assert sorted(drafts) == ["0.png", "1.png", "2.png"]
    [box] = [(a.label, a.is_draft, a.created_by, a.box) for a in drafts["1.png"]]
    assert box[:3] == ("car", True, "model:my-model")
    assert (box[3].x, box[3].y, box[3].w, box[3].h) == (0.3, 0.1, 0.2, 0.4)


def test_the_nightly_export_fails_loudly_on_a_bad_import_and_exports_a_good_one(sdk: SdkServer,
                                                                                tmp_path: Path) -> None:
    cvx = sdk.client()
    project = cvx.create_project("Nightly", sdk.folder("nightly", 2, readable=True), ["car"])
    names = [s.filename for s in cvx.samples(project)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"filename": names[0], "annotations": [
        {"label": "boat", "ann_type": "bbox", "bbox_json": {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}}]}) + "\n")
    failed = _example(sdk, "nightly_export.py", "Nightly", str(bad), str(tmp_path / "out"))
    assert failed.returncode == 1
    assert "NIGHTLY EXPORT FAILED" in failed.stderr and f"row 1 {names[0]}:" in failed.stderr
    assert "boat" in failed.stderr and not (tmp_path / "out").exists()
    good = tmp_path / "good.jsonl"
    good.write_text(bad.read_text().replace("boat", "car"))
    done = _example(sdk, "nightly_export.py", "Nightly", str(good), str(tmp_path / "out"), "CSV")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert folder.parent.parent == tmp_path / "out" and names[0] in (folder / "labels.csv").read_text()
