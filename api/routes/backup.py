"""A backup taken by the running server: the embedded store has one writer process, the server, so
``graphsvc backup`` asks it for one while it runs (``graphsvc.store.backup``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from api.deps import AdminDep
from api.errors import ApiError
from graphsvc.store.backup import tar_stream, write_backup

router = APIRouter(tags=["admin"])


@router.post("/admin/backup", response_class=StreamingResponse, summary="A consistent backup, streamed as a tar",
             responses={200: {"content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
                              "description": "the backup's files and manifest.json (SHA-256 of each)"},
                        503: {"description": "the audit log could not be stored first"}})
def post_backup(caller: AdminDep) -> StreamingResponse:
    """The store (keys, casework, jobs, audit log; on Neo4j all but the graph, which is re-ingested),
    the masking secret and the admin key file. ``graphsvc backup HOME OUT`` calls this when a
    server holds HOME and writes OUT from the stream."""
    services = caller.services
    caller.audit("backup", "store")
    # Every entry recorded before this one (and this one) goes into the copy.
    if not services.audit.flush():
        raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE,
                       "the audit log could not be written to the store; a backup now would miss entries",
                       "审计日志未能写入数据库，此时备份会缺少记录，请稍后重试")
    home = Path(services.settings.home)
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=home))  # 0700, on the store's disk
    try:
        with services.jobs.between_jobs():
            manifest = write_backup(services.store, home, staging / "backup")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StreamingResponse(tar_stream(staging / "backup", manifest, remove=staging), media_type="application/x-tar",
                             headers={"Content-Disposition": 'attachment; filename="graphsvc-backup.tar"'})
