"""Tips (举报线索): reported persons, phones, cards or institutions that raise ring priority."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.deps import NoPoliceDep
from api.errors import ApiError
from api.models import TipReceipt, answer
from api.routes.entities import LookupGuard
from queries.casework import TIP_TYPES, TipConflict, submit_tip

router = APIRouter(tags=["casework"])
if TYPE_CHECKING:  # the tip types are the vocabulary's, known when it is loaded: a str to the type checker
    TipType = str
else:
    TipType = Literal[TIP_TYPES]


class TipIn(BaseModel):
    client_key: str = Field(min_length=1, max_length=128, description="the caller's id for this tip; resending is safe")
    type: TipType
    id: str = Field(min_length=1, max_length=1000,
                    description="the node's id; an analyst names a phone or account by the id an answer gave")
    note: str = Field(default="", max_length=4000)


@router.post("/tips", status_code=status.HTTP_201_CREATED, response_model=TipReceipt,
             summary="Report a lead; idempotent by client_key",
             responses={200: {"model": TipReceipt,
                              "description": "this client_key was already submitted with the same content"}})
def post_tip(body: TipIn, caller: NoPoliceDep) -> Response:
    # An analyst names a phone or account by the pseudonym it was shown; a clear one would make
    # the tip (found or not, which rings it lifts) an oracle on that value.
    guard, principal, masker = LookupGuard.of(caller), caller.principal, caller.masker
    guard.check_budget()
    node_id = guard.resolve(body.type, body.id, lookup="submit_tip")
    try:
        with caller.audit.change("submit_tip", f"{body.type}:{node_id}", client_key=body.client_key):
            tip, created = submit_tip(caller.store, body.client_key, body.type, node_id, body.note,
                                      by=f"{principal.name} ({principal.key_id})")
    except TipConflict as exc:
        raise ApiError(status.HTTP_409_CONFLICT, str(exc), "同一 client_key 已提交过内容不同的线索") from None
    except LookupError as exc:
        guard.missed(f"{body.type}:{node_id}", lookup="submit_tip")
        raise ApiError(status.HTTP_404_NOT_FOUND, str(exc), "线索所指的实体不在关系图中") from None
    if created:
        caller.book.casework_changed()
    shown = TipReceipt.model_validate({**tip, "note": masker.text(tip["note"]), "touches": len(tip["touches"])})
    return answer(shown, masker, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
