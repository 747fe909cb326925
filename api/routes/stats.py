"""Counts of the graph and the monthly ledger of suspicious activity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import BookDep, NoPoliceDep, StoreDep
from queries.stats import ledger_stats

router = APIRouter(tags=["stats"])


@router.get("/stats", summary="Counts, and monthly figures by region in the style of the notices' ledgers")
def get_stats(store: StoreDep, book: BookDep, _: NoPoliceDep) -> dict[str, Any]:
    return ledger_stats(store, book)
