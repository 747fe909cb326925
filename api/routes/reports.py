"""The monthly report (月度统计): its figures as JSON, or a workbook / printable PDF to hand on."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response

import services
from api.deps import NoPoliceDep
from api.models import MonthlyReport
from queries.report import MONTH_PATTERN

router = APIRouter(prefix="/reports", tags=["reports"])

Month = Annotated[str, Query(description="YYYY-MM (年-月), e.g. 2026-03", pattern=f"^{MONTH_PATTERN}$")]
_MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


@router.get("/monthly", response_model=MonthlyReport,
            summary="The monthly report by region: the rings' institutions, persons, claims and fund that month, and "
                    "the rings new, confirmed, dismissed and referred to police that month")
def get_monthly(month: Month, caller: NoPoliceDep) -> MonthlyReport:
    content = services.monthly_report(caller.store, caller.book, month, "json", audit=caller.audit)
    return MonthlyReport.model_validate(json.loads(content))


def _file_route(fmt: str, what: str) -> None:
    @router.get(f"/monthly.{fmt}", response_class=Response, summary=f"The monthly report as {what}, Chinese headers first",
                responses={200: {"content": {_MEDIA[fmt]: {"schema": {"type": "string", "format": "binary"}}},
                                 "description": f"the report as {what}"}})
    def get_monthly_file(month: Month, caller: NoPoliceDep) -> Response:
        content = services.monthly_report(caller.store, caller.book, month, fmt, audit=caller.audit)
        return Response(content, media_type=_MEDIA[fmt],
                        headers={"Content-Disposition": f'attachment; filename="monthly-report-{month}.{fmt}"'})


_file_route("xlsx", "a workbook (xlsx)")
_file_route("pdf", "a printable page (pdf)")
