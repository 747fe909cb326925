"""Counts of the graph and the monthly ledger of suspicious activity."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import NoPoliceDep
from api.models import Stats
from queries.stats import ledger_stats

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=Stats,
            summary="Counts, and monthly figures by region in the style of the notices' ledgers")
def get_stats(caller: NoPoliceDep) -> Stats:
    return Stats.model_validate(ledger_stats(caller.store, caller.book))
