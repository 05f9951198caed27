"""The `cvexplorer` command against a real server on SQLite and PostgreSQL: its sub-commands, --json output and the
exit codes a shell script relies on (documented in cvexplorer.cli)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.live_server import free_port
from cvexplorer import cli
from tests.sdk_live import SdkServer


def _run(capsys: pytest.CaptureFixture[str], sdk: SdkServer, *argv: str, token: str | None = None
         ) -> tuple[int, str, str]:
    code = cli.main(["--url", sdk.url, "--token", token or sdk.token, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_commands_and_their_exit_codes(sdk: SdkServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cvx = sdk.client()
    p = cvx.create_project("Cli", sdk.folder("cli", 3, readable=True), ["car", "person"])
    names = [s.filename for s in cvx.samples(p)]

    code, out, _ = _run(capsys, sdk, "--json", "projects")
    assert code == 0 and {"id": p.id, "name": "Cli", "taskType": "DETECTION", "classes": ["car", "person"],
                          "version": 1} in json.loads(out)

    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"filename": names[0], "annotations": [
        {"label": "car", "ann_type": "bbox", "bbox_json": {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}}]}) + "\n")
    code, out, _ = _run(capsys, sdk, "--json", "import", "Cli", str(good))
    assert code == 0 and json.loads(out)["result"]["annotationsCreated"] == 1

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"filename": "nope.jpg", "annotations": []}) + "\n")
    code, out, err = _run(capsys, sdk, "import", p.id, str(bad))
    assert code == 1 and "FAILED" in out and "row 1 nope.jpg: no such image in the project" in err

    code, out, _ = _run(capsys, sdk, "stats", "Cli")
    assert code == 0 and out.startswith("3 samples: 1 labelled")

    code, out, _ = _run(capsys, sdk, "--json", "export", "Cli", "--format", "CSV", "--no-images", "--wait",
                        "--out", str(tmp_path / "exports"))
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "SUCCEEDED"
    assert (Path(answer["downloadedTo"]) / "labels.csv").read_text().count(names[0]) == 1

    code, out, _ = _run(capsys, sdk, "--json", "jobs", "--project", "Cli")
    assert code == 0 and [j["kind"] for j in json.loads(out)] == ["EXPORT", "IMPORT", "IMPORT", "SCAN"]

    assert _run(capsys, sdk, "stats", "No such project")[0] == 4
    assert _run(capsys, sdk, "stats", "Cli", token="cvx_not-a-token")[0] == 3
    assert _run(capsys, sdk, "import", "Cli", str(tmp_path / "absent.jsonl"))[0] == 2
    code, _, err = _run(capsys, sdk, "import", "Cli", str(good), "--drafts-of", "bad name")
    assert code == 2 and "asDraftsOf must be 1-100 letters" in err
    code, _, err = _run(capsys, sdk, "jobs", "--cancel", answer["id"])  # already finished
    assert code == 6 and "CONFLICT" in err
    assert cli.main(["--url", f"http://127.0.0.1:{free_port()}", "projects"]) == 5
    with pytest.raises(SystemExit) as usage:
        cli.main(["export"])
    assert usage.value.code == 2


def test_the_console_script_reads_the_environment_and_watches_stats(sdk: SdkServer) -> None:
    """`cvexplorer --json stats P --watch` prints the stats, then a line per change, until it is stopped."""
    cvx = sdk.client()
    p = cvx.create_project("Watch", sdk.folder("watch", 2), ["car"])
    script = Path(sys.executable).parent / "cvexplorer"
    env = {**os.environ, "CVEXPLORER_URL": sdk.url, "CVEXPLORER_TOKEN": sdk.token,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "sdk")}
    with subprocess.Popen([str(script), "--json", "stats", p.id, "--watch"], env=env, stdout=subprocess.PIPE,
                          text=True) as watch:
        try:
            assert watch.stdout is not None
            assert json.loads(watch.stdout.readline())["labeled"] == 0
            cvx.save_annotations(next(cvx.samples(p)), [{"label": "car", "box": (0, 0, 0.5, 0.5)}])
            assert json.loads(watch.stdout.readline())["labeled"] == 1
        finally:
            watch.send_signal(signal.SIGINT)
            try:
                watch.wait(timeout=20)
            except subprocess.TimeoutExpired:
                watch.kill()
                pytest.fail("Ctrl-C did not end `stats --watch` within 20 s")
    assert watch.returncode == 130
