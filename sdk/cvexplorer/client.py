"""Client and AsyncClient: the public API of CV Explorer as Python calls. Both share the request building and
mapping below; they differ only in how they wait (threads and blocking calls, or an event loop)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from cvexplorer import databricks, live, predictions
from cvexplorer.errors import CvxError, JobFailed, NotFound, Unavailable, ValidationError
from cvexplorer.models import Annotation, Box, Job, Project, ProjectStats, Sample
from cvexplorer.transport import AsyncTransport, Auth, SyncTransport

STREAM_PAGE = 50_000  # samples per streamed request: a cut connection resumes from the last sample received
STREAM_RETRIES = 3
SPOOL_BYTES = 64 * 2**20  # predictions are kept in memory up to this much before they spill to a temporary file


def _id(thing: Any) -> str:
    """The id of a Project, Sample or Job, or of an id given as such."""
    return str(getattr(thing, "id", thing))


def _token_auth(token: str | None) -> Auth:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return lambda: headers


def _filters(status: str | None, label: str | None, filename: str | None, labeled_by: str | None,
             max_confidence: float | None, review_status: str | None) -> dict[str, str]:
    given = {"status": status, "label": label, "filename": filename, "labeledBy": labeled_by,
             "maxConfidence": max_confidence, "reviewStatus": review_status}
    return {k: str(v) for k, v in given.items() if v is not None}


def _annotation_input(a: Annotation | dict[str, Any]) -> dict[str, Any]:
    """An Annotation, or a dict {"label", "box": Box | (x, y, w, h) | None, "kind"?}, as AnnotationInput."""
    if isinstance(a, Annotation):
        return a.as_input()
    box = a.get("box")
    if box is not None and not isinstance(box, Box):
        box = Box(*box)
    return Annotation(a["label"], a.get("kind") or ("BBOX" if box else "CLASSIFICATION"), box).as_input()


def _save_variables(sample: Any, annotations: Sequence[Any], expected_version: int | None, force: bool,
                    allow_empty: bool) -> dict[str, Any]:
    if expected_version is None and isinstance(sample, Sample) and not force:
        expected_version = sample.version  # the version it was read at: a colleague's newer save is a CONFLICT
    out: dict[str, Any] = {"sampleId": _id(sample), "annotations": [_annotation_input(a) for a in annotations],
                           "allowEmpty": allow_empty, "expectedVersion": expected_version}
    if isinstance(sample, Sample) and sample.project_id:
        out["projectId"] = sample.project_id
    return out


def _ids(things: Sequence[Any]) -> list[str]:
    return [_id(t) for t in things]


def _create_variables(name: str, folder: str, classes: Sequence[str], task: str, multi_label: bool,
                      description: str) -> dict[str, Any]:
    return {"input": {"name": name, "sourceVolume": folder, "classes": list(classes), "taskType": task,
                      "multiLabel": multi_label, "description": description}}


def _classes_variables(project: Any, classes: Sequence[str]) -> dict[str, Any]:
    return {"id": _id(project), "input": {"classes": list(classes)}}


def _scan_of(jobs: list[Job]) -> Job | None:
    """A new project's scan among its jobs (the newest one)."""
    return next((j for j in jobs if j.kind == "SCAN"), None)


def _pick_project(projects: list[Project], key: str) -> Project:
    named = [p for p in projects if p.name == key]
    if len(named) == 1:
        return named[0]
    if named:
        raise ValidationError(f"{len(named)} projects are named {key!r} (ids {', '.join(p.id for p in named)}): "
                              "pass the id.")
    raise NotFound(f"No project of yours is named {key!r}.")


def _import_input(path: str, fmt: str, as_drafts_of: str | None, on_existing: str, on_missing: str,
                  dry_run: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "format": fmt, "onExistingAnnotations": on_existing,
                           "onMissingSample": on_missing, "dryRun": dry_run}
    if as_drafts_of is not None:
        out["asDraftsOf"] = as_drafts_of
    return out


def _predictions_file(data: Any, filenames: Any, labels: Any, boxes: Any, confidences: Any, box_format: str,
                      pixels: bool, clip: bool, sizes: Callable[[], dict[str, tuple[int, int]]]) -> IO[bytes]:
    cols = predictions.columns(data, filenames=filenames, labels=labels, boxes=boxes, confidences=confidences,
                               box_format=box_format)
    if not len(cols):
        raise ValueError("there are no predictions to upload")
    known: dict[str, tuple[int, int]] | None = None

    def size_of(filename: str) -> tuple[int, int] | None:
        nonlocal known
        if known is None:
            known = sizes()
        return known.get(filename)

    fp = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 (returned open, closed by the caller)
    try:
        predictions.write_jsonl(cols, fp, box_format=box_format, pixels=pixels, size_of=size_of, clip=clip)
    except BaseException:
        fp.close()
        raise
    fp.seek(0)
    return fp


def _extract(zip_path: Path, out: Path) -> Path:
    target = out / zip_path.name.removesuffix(".zip")
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():  # the server writes relative names; refuse anything else rather than trust it
            if name.startswith("/") or ".." in Path(name).parts:
                raise CvxError(f"The export zip holds an unsafe name: {name!r}")
        z.extractall(target)
    zip_path.unlink()
    return target


class _Progress:
    """A tqdm bar for a job (tqdm.auto: a widget in notebooks, text in a terminal); nothing when disabled."""

    def __init__(self, job: Job, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=job.total, desc=f"{job.kind.lower()} job {job.id}", unit="step")

    def show(self, job: Job) -> None:
        if self.bar is not None:
            self.bar.total = job.total
            self.bar.n = job.progress
            self.bar.set_postfix_str(job.status.lower(), refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Base:
    def __init__(self, url: str | None, token: str | None, auth: Auth | None, databricks_config: Any) -> None:
        url = url or os.environ.get("CVEXPLORER_URL")
        if not url:
            raise ValueError("Give the server's URL (or set CVEXPLORER_URL), e.g. http://127.0.0.1:8000")
        self.url = url.rstrip("/")
        self.databricks_config = databricks_config
        self.auth: Auth = auth or _token_auth(token if token is not None else os.environ.get("CVEXPLORER_TOKEN"))


class Client(_Base):
    """`Client(url, token=...)`; url and token default to CVEXPLORER_URL and CVEXPLORER_TOKEN. On Databricks use
    `Client.from_databricks(app_url)`. Methods that take a project, sample or job accept the object or its id."""

    def __init__(self, url: str | None = None, *, token: str | None = None, timeout: float = 60.0,
                 auth: Auth | None = None, databricks_config: Any = None, verify: bool | str = True) -> None:
        super().__init__(url, token, auth, databricks_config)
        self.http = SyncTransport(self.url, self.auth, timeout, verify)

    @classmethod
    def from_databricks(cls, app_url: str, config: Any = None, **kwargs: Any) -> Client:
        """The Databricks App at app_url, as the notebook's or job's identity (databricks-sdk's Config, or the
        one given): each request carries its OAuth bearer token."""
        cfg = config or databricks.config()
        return cls(app_url, auth=databricks.bearer(cfg), databricks_config=cfg, **kwargs)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- projects ---------------------------------------------------------------------------------------

    def projects(self) -> list[Project]:
        return [Project.of(p) for p in self.http.graphql("Projects")["projects"]]

    def project(self, id_or_name: str | int) -> Project:
        """A project by id, or by its exact name."""
        key = _id(id_or_name)
        if key.isdigit():
            found = self.http.graphql("Project", id=key)["project"]
            if found is None:
                raise NotFound(f"Project {key} does not exist.")
            return Project.of(found)
        return _pick_project(self.projects(), key)

    def create_project(self, name: str, folder: str, classes: Sequence[str], *, task: str = "DETECTION",
                       multi_label: bool = False, description: str = "", wait: bool = True) -> Project:
        """A project on a volume folder; with wait, returns once its scan has added the folder's images."""
        project = Project.of(self.http.graphql("CreateProject", **_create_variables(
            name, folder, classes, task, multi_label, description))["createProject"])
        scan = _scan_of(self.jobs(project)) if wait else None
        if scan is not None:
            self.wait(scan, progress=False)
        return project

    def update_classes(self, project: Any, classes: Sequence[str]) -> Project:
        """Sets the project's classes (order matters: keys 1-9, colours, export ids). Removing a class in use is
        refused (renames go through the app's renameClass)."""
        return Project.of(self.http.graphql("UpdateProject", **_classes_variables(project, classes))["updateProject"])

    def clone(self, project: Any) -> Project:
        """A new version of the project: same classes and samples, no annotations."""
        return Project.of(self.http.graphql("CloneProject", id=_id(project))["cloneProject"])

    def stats(self, project: Any) -> ProjectStats:
        found = self.http.graphql("ProjectStats", id=_id(project))["project"]
        if found is None:
            raise NotFound(f"Project {_id(project)} does not exist.")
        return ProjectStats.of(found["stats"])

    # -- samples ----------------------------------------------------------------------------------------

    def samples(self, project: Any, *, status: str | None = None, label: str | None = None,
                filename: str | None = None, labeled_by: str | None = None, max_confidence: float | None = None,
                review_status: str | None = None, page_size: int = STREAM_PAGE) -> Iterator[Sample]:
        """Every matching sample with its annotations, in id order, read as a stream a page at a time (constant
        memory at any project size). The filters are the gallery's."""
        pid = _id(project)
        params = _filters(status, label, filename, labeled_by, max_confidence, review_status)
        after, retries = "0", 0
        while True:
            end = None
            try:
                for obj in self.http.ndjson(f"/api/projects/{pid}/samples.ndjson",
                                            {**params, "after": after, "first": str(page_size)}):
                    if "done" in obj:
                        end = obj
                        break
                    sample = Sample.of(obj, pid)
                    after = sample.id
                    yield sample
            except Unavailable:
                end = None
            if end is None:  # cut short: resume after the last sample received
                retries += 1
                if retries > STREAM_RETRIES:
                    raise Unavailable(f"The sample stream of project {pid} kept breaking.")
                time.sleep(0.5 * retries)
                continue
            retries = 0
            if not end["hasNextPage"]:
                return

    def sample(self, sample_id: Any) -> Sample:
        found = self.http.graphql("Sample", id=_id(sample_id))["sample"]
        if found is None:
            raise NotFound(f"Sample {_id(sample_id)} does not exist.")
        return Sample.of(found)

    def image(self, sample: Any) -> bytes:
        """The sample's image as displayed (EXIF orientation applied; TIFF converted), e.g. for your own model."""
        return self.http.get_bytes(f"/media/samples/{_id(sample)}/image")

    def save_annotations(self, sample: Any, annotations: Sequence[Annotation | dict[str, Any]], *,
                         expected_version: int | None = None, force: bool = False,
                         allow_empty: bool = False) -> Sample:
        """Replaces the sample's annotations. Given a Sample, its version is the expected one (a colleague's
        newer save raises Conflict) unless expected_version is given or force is set."""
        return Sample.of(self.http.graphql("SaveAnnotations", **_save_variables(
            sample, annotations, expected_version, force, allow_empty))["saveAnnotations"])

    def set_classification(self, sample: Any, labels: Sequence[str], *, expected_version: int | None = None,
                           force: bool = False) -> Sample:
        v = _save_variables(sample, [], expected_version, force, False)
        return Sample.of(self.http.graphql("SetClassification", sampleId=v["sampleId"], labels=list(labels),
                                           expectedVersion=v["expectedVersion"], projectId=v.get("projectId"))[
            "setClassification"])

    def claim_next(self, project: Any) -> Sample | None:
        """Leases the next sample that needs work to you (None when there is none)."""
        found = self.http.graphql("ClaimNextSample", projectId=_id(project))["claimNextSample"]
        return Sample.of(found) if found else None

    def skip(self, sample: Any, *, expected_version: int | None = None) -> Sample:
        return Sample.of(self.http.graphql("SkipSample", sampleId=_id(sample), expectedVersion=expected_version)[
            "skipSample"])

    def accept_drafts(self, samples: Sequence[Any]) -> int:
        """Makes the samples' drafts (a model's predictions) your labels; how many drafts were accepted."""
        return self.http.graphql("AcceptDrafts", sampleIds=_ids(samples))["acceptDrafts"]

    # -- imports ----------------------------------------------------------------------------------------

    def import_file(self, project: Any, file: str | os.PathLike[str] | IO[bytes], format: str = "JSONL", *,
                    name: str | None = None, as_drafts_of: str | None = None, on_existing: str = "REPLACE",
                    on_missing: str = "ERROR", dry_run: bool = False, wait: bool = True,
                    progress: bool = True) -> Job:
        """Uploads a local COCO / JSONL / YOLO-zip file to the project and imports it as one job. With wait,
        returns the finished job or raises JobFailed (its `errors` are the file's row errors)."""
        pid = _id(project)
        if isinstance(file, str | os.PathLike):
            with open(file, "rb") as fp:
                return self.import_file(pid, fp, format, name=name or Path(file).name, as_drafts_of=as_drafts_of,
                                        on_existing=on_existing, on_missing=on_missing, dry_run=dry_run, wait=wait,
                                        progress=progress)
        uploaded = self.http.upload(f"/uploads/{pid}", file, name or f"import.{format.lower()}")
        job = Job.of(self.http.graphql("ImportAnnotations", projectId=pid, input=_import_input(
            uploaded["path"], format, as_drafts_of, on_existing, on_missing, dry_run))["importAnnotations"], self)
        return self.wait(job, progress=progress) if wait else job

    def upload_predictions(self, project: Any, data: Any = None, *, filenames: Any = None, labels: Any = None,
                           boxes: Any = None, confidences: Any = None, box_format: str = "xywh",
                           pixels: bool = False, clip: bool = False, as_drafts_of: str | None = None,
                           on_existing: str = "REPLACE", on_missing: str = "ERROR", dry_run: bool = False,
                           wait: bool = True, progress: bool = True) -> Job:
        """Predictions in bulk (see cvexplorer.predictions for the accepted inputs and box formats) as one JSONL
        upload and one import job: as_drafts_of="my-model" stores them as that model's drafts (with their
        confidence), else as your labels. Pixel boxes are divided by each image's size: width/height columns,
        or the size the server knows."""
        pid = _id(project)
        fp = _predictions_file(data, filenames, labels, boxes, confidences, box_format, pixels, clip,
                               lambda: self._sizes(pid))
        with fp:
            return self.import_file(pid, fp, "JSONL", name="predictions.jsonl", as_drafts_of=as_drafts_of,
                                    on_existing=on_existing, on_missing=on_missing, dry_run=dry_run, wait=wait,
                                    progress=progress)

    def _sizes(self, pid: str) -> dict[str, tuple[int, int]]:
        return {s.filename: (s.width, s.height) for s in self.samples(pid) if s.width and s.height}

    # -- jobs -------------------------------------------------------------------------------------------

    def job(self, job: Any) -> Job:
        found = self.http.graphql("Job", id=_id(job))["job"]
        if found is None:
            raise NotFound(f"Job {_id(job)} does not exist.")
        return Job.of(found, self)

    def jobs(self, project: Any = None, first: int = 20) -> list[Job]:
        """The newest jobs (of one project, or of all yours), newest first."""
        pid = None if project is None else _id(project)
        return [Job.of(j, self) for j in self.http.graphql("Jobs", projectId=pid, first=first)["jobs"]]

    def cancel(self, job: Any) -> Job:
        return Job.of(self.http.graphql("CancelJob", id=_id(job))["cancelJob"], self)

    def wait(self, job: Any, *, progress: bool = True, timeout: float | None = None, poll: float = 0.5) -> Job:
        """Waits until the job ends, with a progress bar; returns it SUCCEEDED or raises JobFailed (FAILED or
        CANCELLED; `code`, `errors` and `error_count` from the job's result)."""
        current = job if isinstance(job, Job) and job.ended else self.job(job)
        bar = _Progress(current, progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            delay = 0.05
            while not current.ended:
                bar.show(current)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Job {current.id} is still {current.status} after {timeout:g} s.")
                time.sleep(delay)
                delay = min(poll, delay * 2)
                current = self.job(current)
            bar.show(current)
        finally:
            bar.close()
        if current.status != "SUCCEEDED":
            raise JobFailed(current)
        return current

    # -- exports ----------------------------------------------------------------------------------------

    def export(self, project: Any, format: str = "COCO", *, destination: str | None = None,
               include_images: bool = True, accepted_only: bool = False, wait: bool = True,
               progress: bool = True) -> Job:
        """Starts an export into destination (default: the project's export area); with wait, returns it
        finished (its result's path is the new folder) or raises JobFailed."""
        if destination is None:
            destination = self.project(project).export_area
            if destination is None:
                raise ValidationError("This server has no export area (EXPORT_VOLUME): give a destination folder.")
        job = Job.of(self.http.graphql("ExportDataset", projectId=_id(project), input={
            "format": format, "destination": destination, "includeImages": include_images,
            "acceptedOnly": accepted_only})["exportDataset"], self)
        return self.wait(job, progress=progress) if wait else job

    def download(self, job: Any, out: str | os.PathLike[str] = ".", *, extract: bool = True) -> Path:
        """A finished export's files under out: on Databricks (from_databricks) its Unity Catalog folder through
        the Files API; elsewhere the server's zip, extracted into out/<export folder> (or kept, extract=False).
        Returns that path."""
        finished = self.job(job)
        if finished.kind != "EXPORT" or finished.status != "SUCCEEDED":
            raise ValidationError(f"Job {finished.id} is not a finished export ({finished.kind}, {finished.status}).")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if self.databricks_config is not None:
            return databricks.download_folder(self.databricks_config, finished.result["path"], out)  # type: ignore
        partial = out / f".cvexplorer-export-{finished.id}.zip.partial"
        with open(partial, "wb") as fp:
            name = self.http.download(f"/exports/{finished.id}.zip", fp)
        zip_path = partial.rename(out / Path(name).name)
        return _extract(zip_path, out) if extract else zip_path

    # -- live -------------------------------------------------------------------------------------------

    def watch_stats(self, project: Any, *, retries: int = 5) -> Iterator[ProjectStats]:
        """The project's stats now, then after every change, for as long as you iterate (reconnecting)."""
        for data in live.subscribe(self.url, self.auth, "WatchStats", {"projectId": _id(project)}, retries=retries):
            yield ProjectStats.of(data["projectStats"])

    def watch_job(self, job: Any, *, retries: int = 5) -> Iterator[Job]:
        """The job now, then at every progress step, until it has ended."""
        for data in live.subscribe(self.url, self.auth, "WatchJob", {"jobId": _id(job)}, retries=retries):
            current = Job.of(data["jobProgress"], self)
            yield current
            if current.ended:
                return


class AsyncClient(_Base):
    """Client on an event loop: `async with AsyncClient(url, token=...) as cvx:`, with Client's calls awaited (the
    iterators are async iterators); each call sends the same document and reads the answer as Client does."""

    def __init__(self, url: str | None = None, *, token: str | None = None, timeout: float = 60.0,
                 auth: Auth | None = None, databricks_config: Any = None, verify: bool | str = True) -> None:
        super().__init__(url, token, auth, databricks_config)
        self.http = AsyncTransport(self.url, self.auth, timeout, verify)

    @classmethod
    def from_databricks(cls, app_url: str, config: Any = None, **kwargs: Any) -> AsyncClient:
        cfg = config or databricks.config()
        return cls(app_url, auth=databricks.bearer(cfg), databricks_config=cfg, **kwargs)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    async def projects(self) -> list[Project]:
        return [Project.of(p) for p in (await self.http.graphql("Projects"))["projects"]]

    async def project(self, id_or_name: str | int) -> Project:
        key = _id(id_or_name)
        if key.isdigit():
            found = (await self.http.graphql("Project", id=key))["project"]
            if found is None:
                raise NotFound(f"Project {key} does not exist.")
            return Project.of(found)
        return _pick_project(await self.projects(), key)

    async def create_project(self, name: str, folder: str, classes: Sequence[str], *, task: str = "DETECTION",
                             multi_label: bool = False, description: str = "", wait: bool = True) -> Project:
        project = Project.of((await self.http.graphql("CreateProject", **_create_variables(
            name, folder, classes, task, multi_label, description)))["createProject"])
        scan = _scan_of(await self.jobs(project)) if wait else None
        if scan is not None:
            await self.wait(scan, progress=False)
        return project

    async def update_classes(self, project: Any, classes: Sequence[str]) -> Project:
        return Project.of((await self.http.graphql("UpdateProject", **_classes_variables(project, classes)))[
            "updateProject"])

    async def clone(self, project: Any) -> Project:
        return Project.of((await self.http.graphql("CloneProject", id=_id(project)))["cloneProject"])

    async def stats(self, project: Any) -> ProjectStats:
        found = (await self.http.graphql("ProjectStats", id=_id(project)))["project"]
        if found is None:
            raise NotFound(f"Project {_id(project)} does not exist.")
        return ProjectStats.of(found["stats"])

    async def samples(self, project: Any, *, status: str | None = None, label: str | None = None,
                      filename: str | None = None, labeled_by: str | None = None,
                      max_confidence: float | None = None, review_status: str | None = None,
                      page_size: int = STREAM_PAGE) -> AsyncIterator[Sample]:
        pid = _id(project)
        params = _filters(status, label, filename, labeled_by, max_confidence, review_status)
        after, retries = "0", 0
        while True:
            end = None
            try:
                async for obj in self.http.ndjson(f"/api/projects/{pid}/samples.ndjson",
                                                  {**params, "after": after, "first": str(page_size)}):
                    if "done" in obj:
                        end = obj
                        break
                    sample = Sample.of(obj, pid)
                    after = sample.id
                    yield sample
            except Unavailable:
                end = None
            if end is None:
                retries += 1
                if retries > STREAM_RETRIES:
                    raise Unavailable(f"The sample stream of project {pid} kept breaking.")
                await asyncio.sleep(0.5 * retries)
                continue
            retries = 0
            if not end["hasNextPage"]:
                return

    async def sample(self, sample_id: Any) -> Sample:
        found = (await self.http.graphql("Sample", id=_id(sample_id)))["sample"]
        if found is None:
            raise NotFound(f"Sample {_id(sample_id)} does not exist.")
        return Sample.of(found)

    async def image(self, sample: Any) -> bytes:
        return await self.http.get_bytes(f"/media/samples/{_id(sample)}/image")

    async def save_annotations(self, sample: Any, annotations: Sequence[Annotation | dict[str, Any]], *,
                               expected_version: int | None = None, force: bool = False,
                               allow_empty: bool = False) -> Sample:
        return Sample.of((await self.http.graphql("SaveAnnotations", **_save_variables(
            sample, annotations, expected_version, force, allow_empty)))["saveAnnotations"])

    async def set_classification(self, sample: Any, labels: Sequence[str], *, expected_version: int | None = None,
                                 force: bool = False) -> Sample:
        v = _save_variables(sample, [], expected_version, force, False)
        return Sample.of((await self.http.graphql(
            "SetClassification", sampleId=v["sampleId"], labels=list(labels), expectedVersion=v["expectedVersion"],
            projectId=v.get("projectId")))["setClassification"])

    async def claim_next(self, project: Any) -> Sample | None:
        found = (await self.http.graphql("ClaimNextSample", projectId=_id(project)))["claimNextSample"]
        return Sample.of(found) if found else None

    async def skip(self, sample: Any, *, expected_version: int | None = None) -> Sample:
        return Sample.of((await self.http.graphql("SkipSample", sampleId=_id(sample),
                                                  expectedVersion=expected_version))["skipSample"])

    async def accept_drafts(self, samples: Sequence[Any]) -> int:
        return (await self.http.graphql("AcceptDrafts", sampleIds=_ids(samples)))["acceptDrafts"]

    async def import_file(self, project: Any, file: str | os.PathLike[str] | IO[bytes], format: str = "JSONL", *,
                          name: str | None = None, as_drafts_of: str | None = None, on_existing: str = "REPLACE",
                          on_missing: str = "ERROR", dry_run: bool = False, wait: bool = True,
                          progress: bool = True) -> Job:
        pid = _id(project)
        if isinstance(file, str | os.PathLike):
            with open(file, "rb") as fp:
                return await self.import_file(pid, fp, format, name=name or Path(file).name,
                                              as_drafts_of=as_drafts_of, on_existing=on_existing,
                                              on_missing=on_missing, dry_run=dry_run, wait=wait, progress=progress)
        uploaded = await self.http.upload(f"/uploads/{pid}", file, name or f"import.{format.lower()}")
        job = Job.of((await self.http.graphql("ImportAnnotations", projectId=pid, input=_import_input(
            uploaded["path"], format, as_drafts_of, on_existing, on_missing, dry_run)))["importAnnotations"], self)
        return await self.wait(job, progress=progress) if wait else job

    async def upload_predictions(self, project: Any, data: Any = None, *, filenames: Any = None, labels: Any = None,
                                 boxes: Any = None, confidences: Any = None, box_format: str = "xywh",
                                 pixels: bool = False, clip: bool = False, as_drafts_of: str | None = None,
                                 on_existing: str = "REPLACE", on_missing: str = "ERROR", dry_run: bool = False,
                                 wait: bool = True, progress: bool = True) -> Job:
        pid = _id(project)
        sizes = await self._sizes(pid) if pixels else {}
        fp = await asyncio.to_thread(_predictions_file, data, filenames, labels, boxes, confidences, box_format,
                                     pixels, clip, lambda: sizes)
        with fp:
            return await self.import_file(pid, fp, "JSONL", name="predictions.jsonl", as_drafts_of=as_drafts_of,
                                          on_existing=on_existing, on_missing=on_missing, dry_run=dry_run,
                                          wait=wait, progress=progress)

    async def _sizes(self, pid: str) -> dict[str, tuple[int, int]]:
        return {s.filename: (s.width, s.height) async for s in self.samples(pid) if s.width and s.height}

    async def job(self, job: Any) -> Job:
        found = (await self.http.graphql("Job", id=_id(job)))["job"]
        if found is None:
            raise NotFound(f"Job {_id(job)} does not exist.")
        return Job.of(found, self)

    async def jobs(self, project: Any = None, first: int = 20) -> list[Job]:
        pid = None if project is None else _id(project)
        return [Job.of(j, self) for j in (await self.http.graphql("Jobs", projectId=pid, first=first))["jobs"]]

    async def cancel(self, job: Any) -> Job:
        return Job.of((await self.http.graphql("CancelJob", id=_id(job)))["cancelJob"], self)

    async def wait(self, job: Any, *, progress: bool = True, timeout: float | None = None,
                   poll: float = 0.5) -> Job:
        current = job if isinstance(job, Job) and job.ended else await self.job(job)
        bar = _Progress(current, progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            delay = 0.05
            while not current.ended:
                bar.show(current)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Job {current.id} is still {current.status} after {timeout:g} s.")
                await asyncio.sleep(delay)
                delay = min(poll, delay * 2)
                current = await self.job(current)
            bar.show(current)
        finally:
            bar.close()
        if current.status != "SUCCEEDED":
            raise JobFailed(current)
        return current

    async def export(self, project: Any, format: str = "COCO", *, destination: str | None = None,
                     include_images: bool = True, accepted_only: bool = False, wait: bool = True,
                     progress: bool = True) -> Job:
        if destination is None:
            destination = (await self.project(project)).export_area
            if destination is None:
                raise ValidationError("This server has no export area (EXPORT_VOLUME): give a destination folder.")
        job = Job.of((await self.http.graphql("ExportDataset", projectId=_id(project), input={
            "format": format, "destination": destination, "includeImages": include_images,
            "acceptedOnly": accepted_only}))["exportDataset"], self)
        return await self.wait(job, progress=progress) if wait else job

    async def download(self, job: Any, out: str | os.PathLike[str] = ".", *, extract: bool = True) -> Path:
        finished = await self.job(job)
        if finished.kind != "EXPORT" or finished.status != "SUCCEEDED":
            raise ValidationError(f"Job {finished.id} is not a finished export ({finished.kind}, {finished.status}).")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if self.databricks_config is not None:
            return await asyncio.to_thread(databricks.download_folder, self.databricks_config,
                                           finished.result["path"], out)  # type: ignore[index]
        partial = out / f".cvexplorer-export-{finished.id}.zip.partial"
        with open(partial, "wb") as fp:
            name = await self.http.download(f"/exports/{finished.id}.zip", fp)
        zip_path = partial.rename(out / Path(name).name)
        return await asyncio.to_thread(_extract, zip_path, out) if extract else zip_path

    async def watch_stats(self, project: Any, *, retries: int = 5) -> AsyncIterator[ProjectStats]:
        async for data in live.subscribe_async(self.url, self.auth, "WatchStats", {"projectId": _id(project)},
                                               retries=retries):
            yield ProjectStats.of(data["projectStats"])

    async def watch_job(self, job: Any, *, retries: int = 5) -> AsyncIterator[Job]:
        async for data in live.subscribe_async(self.url, self.auth, "WatchJob", {"jobId": _id(job)},
                                               retries=retries):
            current = Job.of(data["jobProgress"], self)
            yield current
            if current.ended:
                return
