"""Institution risk ranking (定点医药机构风险排名): which hospitals and pharmacies to inspect first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.bulkhead import HeavyReadDep
from api.deps import NoPoliceDep
from graphsvc.risk import store_risk

router = APIRouter(prefix="/institutions", tags=["institutions"])


class RiskReason(BaseModel):
    indicator: str = Field(description="an indicator id of graphsvc.risk.INDICATORS, 'rings' or 'impact'")
    zh: str
    en: str
    value: float | None = None
    peer_median: float | None = None
    z: float | None = Field(None, description="robust z-score against the peer group")
    points: float | None = Field(None, description="what the reason adds to the suspicion")


class InstitutionRisk(BaseModel):
    id: str
    score: float = Field(description="suspicion × impact")
    suspicion: float
    impact: float = Field(description="the institution's fund over its peer group's median fund")
    peer_group: str = Field(description="kind|level|region compared with ('*': all institutions)")
    reasons: list[RiskReason]


class InstitutionRiskPage(BaseModel):
    total: int
    limit: int
    offset: int
    institutions: list[InstitutionRisk]


# A plain def: the ranking is SQL over every settlement, run in the thread pool, once per detection
# run (its ring points change with the rings; data loaded since the last detection shows after the next).
@router.get("/risk", response_model=InstitutionRiskPage,
            summary="Institutions ranked for inspection: ring involvement and peer-group outliers, each reason stated")
def get_institution_risk(caller: NoPoliceDep,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50,
                         offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                         _heavy: HeavyReadDep = None) -> InstitutionRiskPage:
    ranking = caller.book.per_run(("institution_risk",), lambda: store_risk(caller.store))
    shown = ranking[offset:offset + limit]
    # Reasons state figures about the institution and ring ids, never a person's identifier: the
    # same answer serves every role that may read it, and masking has nothing to take out.
    caller.audit("read_institution_risk", "institutions", offset=offset, returned=len(shown))
    return InstitutionRiskPage(total=len(ranking), limit=limit, offset=offset,
                               institutions=[InstitutionRisk.model_validate(e) for e in shown])
