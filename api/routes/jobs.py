"""Uploads to ingest and detection runs, as background jobs with status and progress.

Jobs are for investigators and admins: their parameters and results name files, never a
server path (an upload's folder is removed when its job ends; rejects are named relative to
the home). Submitting a job is audited.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import InvestigatorDep
from api.uploads import UPLOAD_BODY, UploadLimits, new_upload_folder, receive_files, unpack_zips
from graphsvc.detect import DetectionConfig
from graphsvc.detect.config import config_problems
from graphsvc.errors import InputError, NotFound
from graphsvc.model import LOAD_ORDER
from ingest.pipeline import IngestError, discover, read_rejects
from ingest.reasons import chinese_note
from services import Progress, detect_and_publish, ingest_and_prepare

router = APIRouter(tags=["jobs"])


class DetectIn(BaseModel):
    config: dict[str, Any] | None = None
    """Overrides of the detection thresholds, as in ``graphsvc detect --config``."""


class JobProgress(BaseModel):
    stage: str | None = None
    """queued, a file being loaded, indexing, a detection stage, done"""
    done: int = 0
    total: int = 0


class Job(BaseModel):
    """A job as its submitter sees it. Fields a job cut off by a restart never got are null."""

    id: str
    kind: Literal["ingest", "detect"]
    state: Literal["queued", "running", "succeeded", "failed", "interrupted"]
    submitted_by: str | None = None
    submitted_at: str | None = None
    parameters: dict[str, Any] = {}
    progress: JobProgress = JobProgress()
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    """ingest: run_id, totals, files, rejects_file, unrecognised_files; detect: run_id, rings, kept_ids,
    new_ids, retired_ids, seconds"""
    error: str | None = None


class JobPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[Job]


def _check_contract_files(folder: Path, names: list[str]) -> None:
    try:
        discover(folder)
    except IngestError:
        expected = ", ".join(f"{n}.csv" for n in LOAD_ORDER)
        raise InputError(f"no contract file among {', '.join(names)}: expected some of {expected} "
                         "(or .parquet / .xlsx)",
                         zh=f"上传的 {'、'.join(names)} 中没有约定的数据文件：应有 {expected} 中的若干个"
                            "（或 .parquet / .xlsx）") from None


@router.post("/ingest", status_code=status.HTTP_202_ACCEPTED, openapi_extra=UPLOAD_BODY, response_model=Job,
             summary="Upload contract files (or zips of them) to load")
async def post_ingest(request: Request, caller: InvestigatorDep) -> dict[str, Any]:
    """The body is multipart/form-data with the files in the field ``files``; limits on its size,
    on what its zips unpack to, their compression ratio and their number of files are settings."""
    services, principal, settings = caller.services, caller.principal, caller.settings
    limits = UploadLimits.of(settings)
    folder = await run_in_threadpool(new_upload_folder, settings.home)

    def work(progress: Progress) -> dict[str, Any]:
        try:
            report = ingest_and_prepare(services.store, folder, rejects_dir=settings.home / "rejects", serving=True,
                                        on_file=progress)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"run_id": report.run_id, "totals": report.totals,
                "files": [{"file": f.file, "read": f.read, "loaded": f.loaded, "unchanged": f.unchanged,
                           "rejected": f.rejected, "note": f.note,
                           "note_zh": chinese_note(f.note) if f.note else None, "ignored_columns": f.ignored_columns,
                           "missing_columns": f.missing_columns} for f in report.files],
                "rejects_file": str(report.rejects_path.relative_to(settings.home)) if report.rejects_path else None,
                "unrecognised_files": report.unrecognised_files}

    try:
        received = await receive_files(request, folder, limits)
        names = await run_in_threadpool(unpack_zips, folder, received, limits)
        await run_in_threadpool(_check_contract_files, folder, names)

        def submit() -> dict[str, Any]:  # a store write and an fsync: off the event loop
            job_id = services.jobs.new_id()
            with caller.audit.change("submit_ingest", job_id, files=names):
                return services.jobs.submit(job_id, "ingest", work, by=f"{principal.name} ({principal.key_id})",
                                            parameters={"files": names})

        return await run_in_threadpool(submit)
    except BaseException:
        # Synchronous: a request cancelled by a disconnect cannot await anything more.
        shutil.rmtree(folder, ignore_errors=True)
        raise


@router.post("/detect", status_code=status.HTTP_202_ACCEPTED, response_model=Job,
             summary="Run ring detection on what is loaded")
def post_detect(caller: InvestigatorDep, body: DetectIn | None = None) -> dict[str, Any]:
    services, principal = caller.services, caller.principal
    try:
        config = DetectionConfig.model_validate(body.config or {}) if body else DetectionConfig()
    except ValidationError as exc:
        raise InputError(f"bad detection config: {config_problems(exc)}",
                         zh=f"检测配置有误：{config_problems(exc)}") from None

    def work(progress: Progress) -> dict[str, Any]:
        run, _ = detect_and_publish(services.store, config, book=services.book, on_stage=progress,
                                    on_published=services.webhooks)
        return {"run_id": run.run_id, "rings": run.rings, "kept_ids": run.kept_ids, "new_ids": run.new_ids,
                "retired_ids": run.retired_ids, "seconds": run.seconds}

    # What the caller changed, kept with the job and its audit entry: a run with a higher min_score
    # retires rings (one referred to police among them), and the job list must say why.
    overrides = config.model_dump(mode="json", exclude_unset=True)
    job_id = services.jobs.new_id()
    with caller.audit.change("submit_detect", job_id, config=overrides):
        return services.jobs.submit(job_id, "detect", work, by=f"{principal.name} ({principal.key_id})",
                                    parameters={"config": overrides})


@router.get("/jobs/{job_id}", response_model=Job, summary="A job's state and progress (investigators and admins)")
def get_job(job_id: str, caller: InvestigatorDep) -> dict[str, Any]:
    job = caller.services.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}", zh=f"没有任务 {job_id!r}")
    return job


class Reject(BaseModel):
    file: str
    line: int
    reason_zh: str
    """the reason in Chinese, the column named by its header label (就诊时间)"""
    reason: str
    row: str
    """the row as read (JSON of its cells): what to correct in the export"""


class RejectPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[Reject]


@router.get("/jobs/{job_id}/rejects", response_model=RejectPage,
            summary="The rows an ingest job rejected: file, line, reason and the row as read (investigators and admins)")
def get_job_rejects(job_id: str, caller: InvestigatorDep, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                    size: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    # An upload's rejects are read here: the uploader has no other way to the server's file.
    job = caller.services.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}", zh=f"没有任务 {job_id!r}")
    named = (job.get("result") or {}).get("rejects_file") if job.get("kind") == "ingest" else None
    if not named:
        return {"total": 0, "page": page, "size": size, "items": []}
    rejects = caller.settings.home / "rejects"
    path = (caller.settings.home / named).resolve()
    if path.parent != rejects.resolve() or not path.is_file():
        raise NotFound(f"the rejects of job {job_id!r} are kept by the server that ran it, or were removed",
                       zh=f"任务 {job_id!r} 的拒收记录保存在运行它的服务器上，或已被删除")
    total, items = read_rejects(path, offset=(page - 1) * size, limit=size)
    caller.audit("read_rejects", job_id, page=page, size=size, rows=len(items))
    return {"total": total, "page": page, "size": size, "items": items}


@router.get("/jobs", response_model=JobPage, summary="Recent jobs, newest first (investigators and admins)")
def get_jobs(caller: InvestigatorDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
             size: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    # The response model keeps a job's declared fields only: the traceback earlier releases
    # stored with a failed job is not answered.
    total, jobs = caller.services.jobs.list(offset=(page - 1) * size, limit=size)
    return {"total": total, "page": page, "size": size, "items": jobs}
