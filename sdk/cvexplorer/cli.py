"""The `cvexplorer` command: projects, import, export, stats, jobs. Configured by --url / --token or CVEXPLORER_URL /
CVEXPLORER_TOKEN; --json prints machine-readable output. Exit codes (for shell scripts):

  0  done
  1  a job ended FAILED or CANCELLED (an import with row errors: they are printed to stderr)
  2  bad usage, or the server refused the input (VALIDATION)
  3  not signed in or not allowed (UNAUTHENTICATED, FORBIDDEN)
  4  not found (NOT_FOUND)
  5  the server cannot be reached or is unavailable (UNAVAILABLE)
  6  any other error the server answered (CONFLICT, TOO_LARGE, an unexpected error)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cvexplorer.client import Client
from cvexplorer.errors import CvxError, JobFailed
from cvexplorer.models import Job, ProjectStats

EXIT = {"VALIDATION": 2, "UNAUTHENTICATED": 3, "FORBIDDEN": 3, "NOT_FOUND": 4, "UNAVAILABLE": 5}
FORMATS = {".json": "COCO", ".jsonl": "JSONL", ".ndjson": "JSONL", ".zip": "YOLO"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cvexplorer", description="CV Explorer from the command line.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--url", help="the server (default: $CVEXPLORER_URL)")
    p.add_argument("--token", help="an API token (default: $CVEXPLORER_TOKEN)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("projects", help="list your projects")
    imp = sub.add_parser("import", help="upload a COCO / JSONL / YOLO-zip file into a project and import it")
    imp.add_argument("project", help="project id or name")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=["COCO", "JSONL", "YOLO"], help="default: from the file's extension")
    imp.add_argument("--drafts-of", metavar="MODEL", help="store the annotations as drafts of model:MODEL")
    imp.add_argument("--on-existing", choices=["REPLACE", "APPEND", "SKIP"], default="REPLACE")
    imp.add_argument("--on-missing", choices=["ERROR", "SKIP", "CREATE"], default="ERROR")
    imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    imp.add_argument("--no-wait", action="store_true", help="print the job and return at once")
    exp = sub.add_parser("export", help="export a project's labelled samples")
    exp.add_argument("project", help="project id or name")
    exp.add_argument("--format", choices=["COCO", "CSV", "JSONL", "YOLO", "PASCAL_VOC"], default="COCO")
    exp.add_argument("--destination", help="a volume folder (default: the project's export area)")
    exp.add_argument("--no-images", action="store_true", help="labels only")
    exp.add_argument("--wait", action="store_true", help="wait for the export to finish")
    exp.add_argument("--out", type=Path, help="with --wait: download the export into this folder")
    st = sub.add_parser("stats", help="a project's statistics")
    st.add_argument("project", help="project id or name")
    st.add_argument("--watch", action="store_true", help="print them again after every change (Ctrl-C stops)")
    jobs = sub.add_parser("jobs", help="list jobs; cancel or wait for one")
    jobs.add_argument("--project", help="only this project's (id or name)")
    jobs.add_argument("--first", type=int, default=20)
    jobs.add_argument("--cancel", metavar="JOB_ID")
    jobs.add_argument("--wait", metavar="JOB_ID")
    return p


class _Out:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: Any, text: str) -> None:
        print(json.dumps(data, default=str) if self.as_json else text, flush=True)


def _job_line(job: Job) -> str:
    total = f"/{job.total}" if job.total is not None else ""
    tail = f" — {job.error}" if job.error else f" {json.dumps(job.result)}" if job.result else ""
    return f"job {job.id} {job.kind} {job.status} {job.progress}{total}{tail}"


def _stats_line(s: ProjectStats) -> str:
    classes = ", ".join(f"{c.label} {c.count}" for c in s.per_class)
    return (f"{s.total} samples: {s.labeled} labelled, {s.pre_labeled} pre-labelled, {s.unlabeled} unlabelled, "
            f"{s.skipped} skipped" + (f" | {classes}" if classes else ""))


def _run(args: argparse.Namespace, cvx: Client, out: _Out) -> int:
    progress = not args.json and sys.stderr.isatty()
    if args.command == "projects":
        found = cvx.projects()
        out.emit([{"id": p.id, "name": p.name, "taskType": p.task_type, "classes": p.classes,
                   "version": p.version} for p in found],
                 "\n".join(f"{p.id}\t{p.name}\t{p.task_type}\tv{p.version}\t{', '.join(p.classes)}" for p in found))
    elif args.command == "import":
        fmt = args.format or FORMATS.get(args.file.suffix.lower())
        if fmt is None:
            raise CvxError(f"Cannot tell the format of {args.file.name}: pass --format.", code="VALIDATION")
        project = cvx.project(args.project)
        job = cvx.import_file(project, args.file, fmt, as_drafts_of=args.drafts_of, on_existing=args.on_existing,
                              on_missing=args.on_missing, dry_run=args.dry_run, wait=not args.no_wait,
                              progress=progress)
        out.emit(job.as_dict(), _job_line(job))
    elif args.command == "export":
        project = cvx.project(args.project)
        job = cvx.export(project, args.format, destination=args.destination, include_images=not args.no_images,
                         wait=args.wait, progress=progress)
        data, text = job.as_dict(), _job_line(job)
        if args.wait and args.out:
            path = cvx.download(job, args.out)
            data["downloadedTo"], text = str(path), f"{text}\n{path}"
        out.emit(data, text)
    elif args.command == "stats":
        project = cvx.project(args.project)
        if not args.watch:
            s = cvx.stats(project)
            out.emit(s.as_dict(), _stats_line(s))
        else:
            _end_at_once_on_ctrl_c()
            for s in cvx.watch_stats(project):
                out.emit(s.as_dict(), _stats_line(s))
    elif args.command == "jobs":
        if args.cancel or args.wait:
            one = cvx.cancel(args.cancel) if args.cancel else cvx.wait(args.wait, progress=progress)
            out.emit(one.as_dict(), _job_line(one))
        else:
            jobs = cvx.jobs(cvx.project(args.project) if args.project else None, args.first)
            out.emit([j.as_dict() for j in jobs], "\n".join(_job_line(j) for j in jobs))
    return 0


def _end_at_once_on_ctrl_c() -> None:
    """A watch only reads, so Ctrl-C ends the process at once (exit 130) rather than unwinding through the websocket
    library, which an interrupt at the wrong moment can leave with a lock held and its close waiting for ever."""
    def end(_signum: int, _frame: Any) -> None:
        sys.stdout.flush()
        os._exit(130)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, end)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = _Out(args.json)
    try:
        with Client(args.url, token=args.token) as cvx:
            return _run(args, cvx, out)
    except JobFailed as exc:
        out.emit({"error": exc.message, "code": exc.code, "job": exc.job.as_dict()}, _job_line(exc.job))
        for e in exc.errors:
            print(f"row {e.get('row')} {e.get('filename', '')}: {e.get('reason')}", file=sys.stderr)
        if exc.error_count > len(exc.errors):
            print(f"... {exc.error_count} problems in all", file=sys.stderr)
        return 1
    except CvxError as exc:
        print(f"cvexplorer: {exc}", file=sys.stderr)
        return EXIT.get(exc.code, 6)
    except (ValueError, OSError) as exc:  # no URL given, a file that cannot be read
        print(f"cvexplorer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
