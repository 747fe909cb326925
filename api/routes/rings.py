"""Ring queue, ring detail, dispositions and the police liaison export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

import services
from api.bulkhead import HeavyAsOfDep, HeavyReadDep
from api.deps import Caller, CallerDep, InvestigatorDep
from api.errors import ApiError, escaped
from api.models import (
    CalendarDay,
    Casework,
    Decision,
    DispositionRecord,
    Pattern,
    RingDetail,
    RingPage,
    Status,
    answer,
    ring_answer,
    view_json,
)
from graphsvc import vocab
from graphsvc.evidence import Lang
from queries.casework import set_disposition
from queries.export import zip_package
from queries.rings import SORT_KEYS, RingBook, RingFilter, casework_view, list_rings, ring_view

router = APIRouter(prefix="/rings", tags=["rings"])

if TYPE_CHECKING:  # the formats and sort keys are the vocabulary's, known when it is loaded: str to the type checker
    ExportFormat = str
    SortKey = str
else:
    ExportFormat = Literal[tuple(vocab.EXPORT_FORMATS)]
    SortKey = Literal[SORT_KEYS]


class DispositionIn(BaseModel):
    status: Decision
    note: str = Field(default="", max_length=4000)


def _referred(book: RingBook) -> frozenset[str]:
    return frozenset(ring_id for ring_id, d in book.casework().dispositions.items() if d["status"] == "referred_to_police")


def _visible_ring(caller: Caller, ring_id: str, action: str) -> None:
    """404 for a ring not in the current run, 403 for police liaison on a ring not referred; both audited."""
    if caller.book.snapshot().by_id.get(ring_id) is None:
        caller.audit("lookup_missed", ring_id, lookup=action)
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no ring {ring_id!r} in the current detection run",
                       f"当前检测结果中没有团伙 {escaped(ring_id)}")
    if caller.principal.role == "police_liaison" and ring_id not in _referred(caller.book):
        caller.audit("denied", ring_id, lookup=action)
        raise ApiError(status.HTTP_403_FORBIDDEN, "police liaison sees only rings referred to police",
                       "公安联络员只能查看已移送公安的团伙")


# Plain ``def`` routes run in the thread pool: even answers from memory (RingBook) re-read the
# store now and then, and any such wait on the event loop would stall every request, /health too.
@router.get("", response_model=RingPage, summary="The ring queue: filter, sort, paginate")
def get_rings(caller: CallerDep,
              pattern: Annotated[list[Pattern] | None, Query(description="keep these patterns")] = None,
              min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
              region: Annotated[str | None, Query(max_length=32, description="institution region code")] = None,
              institution: Annotated[str | None, Query(max_length=64, description="rings with this institution")] = None,
              since: Annotated[CalendarDay | None, Query(description="active on or after this day")] = None,
              until: Annotated[CalendarDay | None, Query(description="active on or before this day")] = None,
              disposition: Annotated[list[Status] | None, Query(description="default: all but dismissed")] = None,
              sort: SortKey = "priority", order: Literal["asc", "desc"] = "desc",
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
              size: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    if since and until and since > until:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must not be after until", "起始日期不能晚于截止日期")
    book, masker = caller.book, caller.masker
    police = caller.principal.role == "police_liaison"
    flt = RingFilter(pattern=tuple(pattern or ()), min_score=min_score, region=region, institution=institution,
                     since=since, until=until, status=tuple(disposition or ()),
                     ring_ids=_referred(book) if police else None)
    found = list_rings(book, flt, masker, sort=sort, descending=order == "desc", page=page, size=size)
    return answer(RingPage.model_validate(found), masker)


@router.get("/{ring_id}", response_model=RingDetail,
            summary="A ring: members with roles, evidence, fund, timeline and its subgraph")
def get_ring(ring_id: str, caller: CallerDep, _heavy: HeavyAsOfDep,
             lang: Annotated[Lang, Query(description="the language of the evidence sentences: zh (default) or en")] = "zh",
             as_of: Annotated[CalendarDay | None, Query(
                 description="the ring as it stood at the end of this day (YYYY-MM-DD): its claims, members and "
                             "claim edges up to it; a day before its first claim gives an empty ring")] = None) -> Response:
    book, masker, audit = caller.book, caller.masker, caller.audit
    _visible_ring(caller, ring_id, "read_ring")
    # as_of: computed afresh from the claims of the ring's persons, a heavy read (one slot of the bulkhead)
    view = ring_view(book, ring_id, masker, lang, as_of)
    if view is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no ring {ring_id!r}", f"没有团伙 {escaped(ring_id)}")
    if as_of is None:
        audit("read_ring", ring_id, persons=view["persons"])
        shown = book.per_run(("ring_view_json", ring_id, masker.active, lang), lambda: view_json(view, masker))
    else:  # not kept: a slider asks for many days, each answered once
        audit("read_ring", ring_id, persons=view["persons"], as_of=as_of.isoformat())
        shown = view_json(view, masker)
    return ring_answer(shown, Casework.model_validate(casework_view(book, ring_id, masker)), masker)


@router.put("/{ring_id}/disposition", response_model=DispositionRecord,
            summary="Confirm, dismiss or refer a ring to police, with a note")
def put_disposition(ring_id: str, body: DispositionIn, caller: InvestigatorDep) -> DispositionRecord:
    book, principal = caller.book, caller.principal
    ring = book.snapshot().by_id.get(ring_id)
    if ring is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no ring {ring_id!r} in the current detection run",
                       f"当前检测结果中没有团伙 {escaped(ring_id)}")
    previous = book.casework().dispositions.get(ring_id)
    with caller.audit.change("set_disposition", ring_id, status=body.status):
        record = set_disposition(caller.store, ring, body.status, body.note, by=f"{principal.name} ({principal.key_id})")
    book.casework_changed()
    caller.services.webhooks.disposition_changed(ring, previous)
    return DispositionRecord.model_validate(record)


@router.get("/{ring_id}/export", summary="Police liaison package (zip): data, report, referral PDF, network picture, "
                                        "SHA-256 manifest signed with the fund's key (GET /signing-key)",
            response_class=Response,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "a zip of the package's folder"}})
def export_ring(ring_id: str, caller: CallerDep, format: ExportFormat = "xlsx",
                _heavy: HeavyReadDep = None) -> Response:
    _visible_ring(caller, ring_id, "export_ring")
    # The command line's export too: one package, audited the same way (a ring gone since the check is a 404).
    principal = caller.principal
    files = services.export_ring(caller.store, caller.book, ring_id, format, caller.masker,
                                 generated_by=f"{principal.name} ({principal.role})", audit=caller.audit,
                                 home=caller.settings.home)
    name = f"{ring_id}-{format}"
    return Response(zip_package(files, name), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
