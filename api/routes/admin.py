"""Administration: API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.deps import AdminDep, CallerDep
from api.errors import ApiError, escaped
from api.keys import ENV_ADMIN_ID, MAX_KEY_NAME, create_api_key, key_name_problem, list_api_keys, revoke_api_key
from api.models import ApiKeyCreated, ApiKeyInfo, ApiKeyList, AuditPage, Me, Role

router = APIRouter(tags=["admin"])


class ApiKeyIn(BaseModel):
    # A misspelt field (expires_days, as the CLI's option) must not make a key that never expires.
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(min_length=1, max_length=MAX_KEY_NAME, description="who the key is for")
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the key stops working, with its time zone, e.g. 2026-12-31T18:00:00+08:00; "
                                  "absent: until revoked")

    @field_validator("name")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if (problem := key_name_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        try:  # the server keeps it in its own zone: the calendar's last day west of UTC is past year 9999 here
            value.astimezone()
        except (OverflowError, ValueError):
            raise ValueError("beyond the calendar this server can keep: leave it out for a key that lasts until "
                             "revoked") from None
        if value <= datetime.now().astimezone():
            raise ValueError("must be in the future")
        return value


@router.get("/me", response_model=Me, summary="Who the key belongs to and its role (the console shows it)")
async def get_me(caller: CallerDep) -> Me:
    return Me(key_id=caller.principal.key_id, name=caller.principal.name, role=caller.principal.role)


@router.post("/apikeys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated,
             summary="Create an API key (shown once)")
def post_apikey(body: ApiKeyIn, caller: AdminDep) -> ApiKeyCreated:
    # Made before it is audited: if the audit log cannot be written the answer is a 503,
    # and a key nobody was shown opens nothing.
    key, principal = create_api_key(caller.store, body.role, body.name, expires_at=body.expires_at)
    caller.audit("create_api_key", principal.key_id, role=body.role, name=body.name, expires_at=body.expires_at)
    return ApiKeyCreated(key=key, key_id=principal.key_id, name=principal.name, role=principal.role,
                         expires_at=body.expires_at)


@router.get("/apikeys", response_model=ApiKeyList,
            summary="The API keys (ids, names, roles, expiry, revocation; never the keys)")
def get_apikeys(caller: AdminDep) -> ApiKeyList:
    keys = list_api_keys(caller.store)
    return ApiKeyList.model_validate({"total": len(keys), "items": keys})


@router.delete("/apikeys/{key_id}", response_model=ApiKeyInfo,
               summary="Revoke an API key: refused at once here, within 10 s on other servers",
               responses={404: {"description": "no such key"},
                          409: {"description": "the key from GRAPHSVC_ADMIN_KEY: unset it instead"}})
def delete_apikey(key_id: Annotated[str, Path(max_length=64)], caller: AdminDep) -> ApiKeyInfo:
    if key_id == ENV_ADMIN_ID:
        raise ApiError(status.HTTP_409_CONFLICT, "the GRAPHSVC_ADMIN_KEY key is not stored and cannot be "
                                                 "revoked; remove it from the environment and restart",
                       "GRAPHSVC_ADMIN_KEY 密钥来自环境变量，未存入库中，无法吊销；请从环境中删除后重启服务")
    with caller.audit.change("revoke_api_key", key_id):
        record = revoke_api_key(caller.store, key_id)
        if record is None:
            raise ApiError(status.HTTP_404_NOT_FOUND, f"no API key with id {key_id!r}", f"没有编号为 {escaped(key_id)} 的 API 密钥")
    caller.services.forget_keys()
    return ApiKeyInfo.model_validate(record)


@router.get("/audit", response_model=AuditPage,
            summary="The audit log, newest first: who read or exported what, when, from where")
def get_audit(caller: AdminDep, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
              size: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    services = caller.services
    services.audit.flush(timeout=5.0)
    total, entries = services.store.list_records("audit", offset=(page - 1) * size, limit=size)
    # Entries safe on disk that a failing store has not taken yet: listed once it recovers.
    return AuditPage.model_validate({"total": total, "page": page, "size": size, "items": entries,
                                     "not_yet_stored": services.audit.status()["backlog"]})
