"""The request's caller as typed aliases, one per set of roles allowed: ``Caller`` carries the app's
services (store, ring book, settings), the key's principal, its masker and its auditor.

The dependency is ``async`` because it waits on nothing but a cached key check: a sync
dependency costs a hop to the thread pool on every request. A key not checked recently is
looked up in the store in the thread pool, and so is a refusal worth auditing (a 401 with a key that is not
valid, a 403) waiting on the audit log's fsync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.audit import AuditLog, AuditUnavailable
from api.bulkhead import Bulkhead
from api.errors import ApiError
from api.jobs import JobRunner
from api.keys import Principal, digest, principal_for
from api.ratelimit import RateLimiter
from api.webhooks import Webhooks
from graphsvc.config import Settings
from graphsvc.store import GraphStore
from graphsvc.vocab import ROLES
from queries.masking import Masker
from queries.rings import RingBook

_log = logging.getLogger(__name__)

__all__ = ["Services", "Auditor", "Caller", "caller_with_role", "CallerDep", "AdminDep", "InvestigatorDep",
           "NoPoliceDep"]

_KEY_CACHE_S = 10.0
"""How long a checked key is trusted before the store is asked again (a revoked key stops within this)."""
_KEY_CACHE_MAX = 10_000


@dataclass
class Services:
    """What the app holds for its lifetime; built by ``create_app``, reachable from every request."""

    settings: Settings
    store: GraphStore
    book: RingBook
    audit: AuditLog
    jobs: JobRunner
    limiter: RateLimiter
    failed_lookups: RateLimiter
    """A masked role's budget of failed or refused lookups (see ``api.routes.entities.LookupGuard``)."""
    heavy_reads: Bulkhead
    secret: str
    webhooks: Webhooks

    def __post_init__(self) -> None:
        self._keys: dict[str, tuple[float, Principal | None]] = {}
        self._keys_lock = threading.Lock()

    def known(self, key: str) -> tuple[bool, Principal | None]:
        """``(True, principal)`` when the key was found valid within the cache time, else ``(False, None)``."""
        with self._keys_lock:
            cached = self._keys.get(digest(key))
        if cached and time.monotonic() - cached[0] < _KEY_CACHE_S:
            return True, cached[1]
        return False, None

    def principal(self, key: str) -> Principal | None:
        """The key's principal, asked of the store when it is not cached (blocking: call it off the event loop)."""
        fresh, found = self.known(key)
        if fresh:
            return found
        hashed, now = digest(key), time.monotonic()
        admin = self.settings.admin_key.get_secret_value() if self.settings.admin_key else None
        found = principal_for(self.store, key, admin_key=admin)
        if found is not None:
            # Only valid keys are cached: random keys sent at the API (rate-limited per address)
            # must not grow it, nor flush the valid ones out and make every request read the store.
            with self._keys_lock:
                if len(self._keys) >= _KEY_CACHE_MAX:
                    self._keys.clear()
                self._keys[hashed] = (now, found)
        return found

    def forget_keys(self) -> None:
        """Check every key against the store again (after a revocation: it takes effect here at once)."""
        with self._keys_lock:
            self._keys.clear()


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from `graphsvc apikey create`")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


async def _authenticate(request: Request, services: Services, key: str | None) -> Principal:
    """The key's principal; a 401 (audited, rate-limited per address) when there is none or it is not valid."""
    if not key:
        raise ApiError(status.HTTP_401_UNAUTHORIZED,
                       "send an API key in the X-API-Key header; an admin makes one with "
                       "`graphsvc apikey create --role investigator`",
                       "请在 X-API-Key 请求头中提供 API 密钥；管理员可用 `graphsvc apikey create --role investigator` 创建",
                            headers={"WWW-Authenticate": "Bearer"})
    fresh, principal = services.known(key)
    if not fresh:  # the store may be busy with an ingest: never wait for it on the event loop
        principal = await run_in_threadpool(services.principal, key)
    if principal is None:
        # Someone holds a key that is wrong, revoked or expired: worth an audit entry, but
        # only the digest's head identifies it, never the key. Guesses are rate-limited per
        # address, so they cannot fill the log's disk or try keys at full speed.
        _rate_limit(services, f"client:{request.client.host if request.client else '-'}")
        await _record(services.audit, who=digest(key)[:12], name="", role="", action="unknown_key",
                      target=f"{request.method} {request.url.path}", client=_client(request))
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "unknown, revoked or expired API key",
                       "API 密钥无效、已吊销或已过期", headers={"WWW-Authenticate": "Bearer"})
    _rate_limit(services, principal.key_id)
    return principal


def _rate_limit(services: Services, bucket: str) -> None:
    wait = services.limiter.acquire(bucket)
    if wait:
        raise ApiError(status.HTTP_429_TOO_MANY_REQUESTS,
                       f"rate limit of {services.settings.rate_limit_per_minute} requests a minute reached; "
                       f"retry in {wait:.1f}s",
                       f"已达每分钟 {services.settings.rate_limit_per_minute} 次请求的上限，请 {wait:.1f} 秒后重试",
                       headers={"Retry-After": str(max(1, round(wait)))})


def _client(request: Request) -> str | None:
    """The socket's peer: uvicorn rewrites it from X-Forwarded-For only for the configured trusted proxies."""
    return f"{request.client.host}:{request.client.port}" if request.client else None


async def _record(log: AuditLog, **entry: Any) -> None:
    """Audit from the event loop (``entry``: ``AuditLog.record``'s arguments): the fsync waits in the
    thread pool; no durable entry, no answer."""
    try:
        await run_in_threadpool(lambda: log.record(**entry))
    except AuditUnavailable as exc:
        raise _unaudited(exc) from None


def _unaudited(exc: AuditUnavailable) -> ApiError:
    # An OSError's own words name the server's files: the caller gets its reason (a full disk) without them.
    cause = exc.__cause__
    reason = f" ({cause.strerror})" if isinstance(cause, OSError) and cause.strerror else ""
    _log.error("audit log unavailable: %s%s", type(cause or exc).__name__, reason)
    return ApiError(status.HTTP_503_SERVICE_UNAVAILABLE,
                    f"the audit log cannot be written now{reason}; the request was not answered",
                    "审计日志暂时无法写入，本次请求未予应答（每次读取都须留痕）", headers={"Retry-After": "5"})


@dataclass(frozen=True)
class Auditor:
    """Writes one audit entry for the current caller; returns once it is on disk, else answers 503."""

    log: AuditLog
    principal: Principal
    client: str | None

    def __call__(self, action: str, target: str, /, **detail: object) -> None:
        try:
            self.log.record(who=self.principal.key_id, name=self.principal.name, role=self.principal.role,
                            action=action, target=target, client=self.client, detail=detail)
        except AuditUnavailable as exc:
            raise _unaudited(exc) from None

    @contextmanager
    def change(self, action: str, target: str, **detail: object) -> Iterator[None]:
        """Audit a change before it is made: without its entry on disk (503) nothing changes. A
        change that then fails gets a second entry, ``ACTION_failed``, with the reason's kind."""
        self(action, target, **detail)
        try:
            yield
        except Exception as exc:
            self(f"{action}_failed", target, error=type(exc).__name__,
                 status=getattr(exc, "status_code", status.HTTP_500_INTERNAL_SERVER_ERROR))
            raise


@dataclass(frozen=True)
class Caller:
    """Who sent the request and what it is served with: the app's services, the key's principal, a
    masker for its role and an auditor writing entries in its name."""

    services: Services
    principal: Principal
    masker: Masker
    audit: Auditor

    @property
    def store(self) -> GraphStore:
        return self.services.store

    @property
    def book(self) -> RingBook:
        return self.services.book

    @property
    def settings(self) -> Settings:
        return self.services.settings


def caller_with_role(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """The dependency that authenticates a request's key and lets only ``roles`` through, with a 403
    (audited) that says who may.

    One dependency per route: FastAPI walks a route's whole dependency tree on every request
    before its per-request cache answers, so separate principal, masker, auditor and role checks,
    each re-declaring the key's sub-tree, cost a 2-hop network request a third of its server time
    (41 dependants; 4 now).
    """

    async def caller(request: Request, api_key: Annotated[str | None, Security(_api_key)] = None,
                     bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> Caller:
        services: Services = request.app.state.services
        principal = await _authenticate(request, services, api_key or (bearer.credentials if bearer else None))
        auditor = Auditor(services.audit, principal, _client(request))
        if principal.role not in roles:
            await run_in_threadpool(_deny, auditor, request, roles)
        return Caller(services, principal, Masker(principal.role, secret=services.secret), auditor)

    return caller


def _deny(audit: Auditor, request: Request, roles: tuple[str, ...]) -> None:
    audit("denied", f"{request.method} {request.url.path}", allowed=list(roles))
    raise ApiError(status.HTTP_403_FORBIDDEN,
                   f"the {audit.principal.role} role may not do this; allowed: {', '.join(roles)}",
                   f"{ROLES[audit.principal.role].zh}无权执行此操作；允许的角色："
                   f"{'、'.join(ROLES[r].zh if r in ROLES else r for r in roles)}")


CallerDep = Annotated[Caller, Depends(caller_with_role(*ROLES))]
"""Any role with a valid key."""
AdminDep = Annotated[Caller, Depends(caller_with_role("admin"))]
InvestigatorDep = Annotated[Caller, Depends(caller_with_role("admin", "investigator"))]
NoPoliceDep = Annotated[Caller, Depends(caller_with_role("admin", "investigator", "analyst"))]
"""Everything but police liaison, who see only the rings referred to them and their exports."""
