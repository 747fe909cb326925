"""Tips (举报线索): reported persons, phones, cards or institutions that raise ring priority."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from api.deps import AuditDep, BookDep, NoPoliceDep, StoreDep
from queries.casework import TIP_TYPES, TipConflict, submit_tip

router = APIRouter(tags=["casework"])


class TipIn(BaseModel):
    client_key: str = Field(min_length=1, max_length=128, description="the caller's id for this tip; resending is safe")
    type: Literal[TIP_TYPES]  # type: ignore[valid-type]
    id: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=4000)


@router.post("/tips", status_code=status.HTTP_201_CREATED, summary="Report a lead; idempotent by client_key",
             responses={200: {"description": "this client_key was already submitted with the same content"}})
def post_tip(body: TipIn, response: Response, store: StoreDep, book: BookDep, principal: NoPoliceDep,
             audit: AuditDep) -> dict[str, Any]:
    try:
        tip, created = submit_tip(store, body.client_key, body.type, body.id, body.note,
                                  by=f"{principal.name} ({principal.key_id})")
    except TipConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if created:
        book.casework_changed()
    else:
        response.status_code = status.HTTP_200_OK
    audit("submit_tip", f"{body.type}:{body.id}", created=created)
    return {k: v for k, v in tip.items() if k != "touches"} | {"touches": len(tip["touches"])}
