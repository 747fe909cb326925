"""Uploads to ingest and detection runs, as background jobs with status and progress."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from pydantic import BaseModel, ValidationError

from api.deps import InvestigatorDep, PrincipalDep, ServicesDep
from api.jobs import Progress
from graphsvc.detect import DetectionConfig, detect_and_save

router = APIRouter(tags=["jobs"])

_SAFE_NAME = re.compile(r"^[\w.\-]{1,128}$")
_MAX_UPLOAD = 2 * 1024**3


class DetectIn(BaseModel):
    config: dict[str, Any] | None = None
    """Overrides of the detection thresholds, as in ``graphsvc detect --config``."""


def _save_upload(upload: UploadFile, folder: Path) -> list[str]:
    name = Path(upload.filename or "").name
    if not _SAFE_NAME.match(name):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad file name {upload.filename!r}")
    content = upload.file.read(_MAX_UPLOAD + 1)
    if len(content) > _MAX_UPLOAD:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"{name} is over 2 GiB; ingest it with the CLI")
    if not name.lower().endswith(".zip"):
        (folder / name).write_bytes(content)
        return [name]
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} is not a readable zip file") from None
    saved = []
    for member in archive.infolist():
        inner = Path(member.filename).name  # no folders, no ../: only the file names are kept
        if member.is_dir() or not inner or not _SAFE_NAME.match(inner):
            continue
        (folder / inner).write_bytes(archive.read(member))
        saved.append(inner)
    return saved


@router.post("/ingest", status_code=status.HTTP_202_ACCEPTED, summary="Upload contract files (or a zip) to load")
def post_ingest(services: ServicesDep, principal: InvestigatorDep,
                files: Annotated[list[UploadFile], File(description="contract CSV/XLSX/Parquet files or one zip")]) -> dict[str, Any]:
    from ingest.pipeline import ingest_folder

    folder = services.settings.home / "uploads" / f"upload-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=True)
    names = [n for upload in files for n in _save_upload(upload, folder)]
    if not names:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no files in the upload")
    store = services.store

    def work(progress: Progress) -> dict[str, Any]:
        report = ingest_folder(store, folder, rejects_dir=services.settings.home / "rejects", progress=False,
                               on_file=progress)
        progress("indexing", len(report.files), len(report.files))
        store.prepare_reads()
        return {"run_id": report.run_id, "totals": report.totals,
                "files": [{"file": f.file, "read": f.read, "loaded": f.loaded, "unchanged": f.unchanged,
                           "rejected": f.rejected} for f in report.files],
                "rejects_file": str(report.rejects_path) if report.rejects_path else None,
                "unrecognised_files": report.unrecognised_files}

    return services.jobs.submit("ingest", work, by=f"{principal.name} ({principal.key_id})",
                                parameters={"files": names, "folder": str(folder)})


@router.post("/detect", status_code=status.HTTP_202_ACCEPTED, summary="Run ring detection on what is loaded")
def post_detect(services: ServicesDep, principal: InvestigatorDep, body: DetectIn | None = None) -> dict[str, Any]:
    try:
        config = DetectionConfig.model_validate(body.config or {}) if body else DetectionConfig()
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad detection config: {exc}") from None

    def work(progress: Progress) -> dict[str, Any]:
        run, _ = detect_and_save(services.store, config, on_stage=progress)
        services.book.invalidate()
        services.book.warm()
        return {"run_id": run.run_id, "rings": run.rings, "kept_ids": run.kept_ids, "new_ids": run.new_ids,
                "retired_ids": run.retired_ids, "seconds": run.seconds}

    return services.jobs.submit("detect", work, by=f"{principal.name} ({principal.key_id})")


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def get_job(job_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    job = services.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return {k: v for k, v in job.items() if k != "traceback"}


@router.get("/jobs", summary="Recent jobs, newest first")
def get_jobs(services: ServicesDep, _: PrincipalDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
             size: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    total, jobs = services.jobs.list(offset=(page - 1) * size, limit=size)
    return {"total": total, "page": page, "size": size,
            "items": [{k: v for k, v in j.items() if k != "traceback"} for j in jobs]}
