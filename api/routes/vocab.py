"""The service's words (patterns, roles, node types, member roles, dispositions, export formats)
with Chinese and English labels: the console draws and names everything from this."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CallerDep
from api.models import Vocabulary
from graphsvc.vocab import vocabulary

router = APIRouter(tags=["vocab"])


@router.get("/vocab", response_model=Vocabulary, response_model_exclude_none=True,
            summary="Patterns, roles, node types, member roles, dispositions and export formats, with Chinese and "
                    "English labels")
async def get_vocab(_: CallerDep) -> Vocabulary:
    return Vocabulary.model_validate(vocabulary())
