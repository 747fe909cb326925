"""Administration: API keys and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import AdminDep, AuditDep, PrincipalDep, ServicesDep, StoreDep
from api.keys import create_api_key

router = APIRouter(tags=["admin"])


class ApiKeyIn(BaseModel):
    role: Literal["admin", "investigator", "police_liaison", "analyst"]
    name: str = Field(min_length=1, max_length=100, description="who the key is for")


@router.get("/me", summary="Who the key belongs to and its role (the console shows it)")
async def get_me(principal: PrincipalDep) -> dict[str, Any]:
    return {"key_id": principal.key_id, "name": principal.name, "role": principal.role}


@router.post("/apikeys", status_code=status.HTTP_201_CREATED, summary="Create an API key (shown once)")
def post_apikey(body: ApiKeyIn, store: StoreDep, _: AdminDep, audit: AuditDep) -> dict[str, Any]:
    key, principal = create_api_key(store, body.role, body.name)
    audit("create_api_key", principal.key_id, role=body.role, name=body.name)
    return {"key": key, "key_id": principal.key_id, "name": principal.name, "role": principal.role}


@router.get("/apikeys", summary="The API keys (ids, names, roles; never the keys)")
def get_apikeys(store: StoreDep, _: AdminDep) -> dict[str, Any]:
    total, keys = store.list_records("api_key", limit=10_000)
    return {"total": total, "items": keys}


@router.get("/audit", summary="The audit log, newest first: who read or exported what, when, from where")
def get_audit(services: ServicesDep, _: AdminDep, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
              size: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    services.audit.flush()
    total, entries = services.store.list_records("audit", offset=(page - 1) * size, limit=size)
    return {"total": total, "page": page, "size": size, "items": entries}
