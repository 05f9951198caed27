"""A nightly pipeline: import the day's labels, then export the project and download it, failing loudly (a
non-zero exit code and every row error on stderr) when the import is refused, so the scheduler marks the run red.

    CVEXPLORER_URL=... CVEXPLORER_TOKEN=... python nightly_export.py PROJECT LABELS.jsonl OUT_DIR [FORMAT]

Exit codes: 0 exported; 1 the import (or the export) failed, nothing was written by it; 2 the server refused the
request (e.g. an unknown project); 3 the server could not be reached."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import cvexplorer


def main(project_key: str, labels: Path, out: Path, fmt: str = "COCO") -> int:
    cvx = cvexplorer.Client(os.environ["CVEXPLORER_URL"], token=os.environ.get("CVEXPLORER_TOKEN"))
    try:
        project = cvx.project(project_key)
        imported = cvx.import_file(project, labels, "JSONL", progress=False)
        print(f"imported {labels.name}: {imported.result}")
        export = cvx.export(project, fmt, include_images=False, progress=False)
        folder = cvx.download(export, out / datetime.now(UTC).strftime("%Y-%m-%d"))
    except cvexplorer.JobFailed as failed:
        print(f"NIGHTLY EXPORT FAILED: {failed.message}", file=sys.stderr)
        for e in failed.errors:
            print(f"  row {e['row']} {e['filename']}: {e['reason']}", file=sys.stderr)
        return 1
    except cvexplorer.Unavailable as down:
        print(f"NIGHTLY EXPORT FAILED: {down.message}", file=sys.stderr)
        return 3
    except cvexplorer.CvxError as refused:
        print(f"NIGHTLY EXPORT FAILED: {refused}", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:5]))
