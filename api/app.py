"""``create_app(settings)``: the FastAPI application, with no import-time globals.

Everything a request needs (store, ring book, audit log, jobs, rate limiter) is built here
and hung on ``app.state.services``; tests pass their own store.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.audit import AuditLog
from api.bulkhead import Bulkhead
from api.deps import Services
from api.errors import chinese_detail, http_error, internal_error
from api.headers import SecurityHeaders
from api.jobs import JobRunner
from api.models import AuditHealth, Health
from api.ratelimit import RateLimiter
from api.routes import admin, backup, casework, entities, jobs, reports, rings, signing, stats, vocab, webhooks
from api.routes import institutions as institution_routes
from api.uploads import remove_stale_uploads
from api.webhooks import Webhooks
from graphsvc.config import Settings
from graphsvc.errors import Conflict, Forbidden, GraphsvcError, InputError, NotFound, StoreError, Unavailable
from graphsvc.files import create_once
from graphsvc.store import GraphStore, lost_connection_errors, open_store, store_error_of
from queries.rings import RingBook

__all__ = ["create_app", "server_secret"]

CONSOLE = Path(__file__).parent / "console"
_log = logging.getLogger(__name__)
_STORE_CHECK_S = 1.0
_CYTOSCAPE = CONSOLE / "node_modules" / "cytoscape" / "dist"

_DESCRIPTION = """\
Query API of graphsvc: rings of organised medical-insurance fraud (医保欺诈骗保), the evidence
behind them, the network of any person, card, institution or phone, and the police liaison
package (线索移送).

Every call but `/health` needs an API key in the `X-API-Key` header (or as a bearer token).
Roles: **admin**, **investigator** (everything), **police_liaison** (rings referred to police
and their exports), **analyst** (ID numbers, names, phones and accounts masked). Reads of a
person's data or network and every export are written to the audit log (`GET /audit`).
"""


_STATUSES: list[tuple[type[GraphsvcError], int, str | None]] = [
    (InputError, status.HTTP_422_UNPROCESSABLE_CONTENT, None),
    (NotFound, status.HTTP_404_NOT_FOUND, None),
    (Conflict, status.HTTP_409_CONFLICT, None),
    (Forbidden, status.HTTP_403_FORBIDDEN, None),
    # The store's and a dependency's own words name paths, hosts and users: the log has them, the caller a summary.
    (StoreError, status.HTTP_503_SERVICE_UNAVAILABLE, "the store does not answer now; retry later"),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE, "a service this request needs does not answer now; retry later"),
]
"""Each kind of error's HTTP status, and the text answered instead of its message (None: the message)."""


def _lost_store(request: Request, exc: Exception) -> JSONResponse:
    return _answer(request, store_error_of(exc) or StoreError(type(exc).__name__))


def _answer(request: Request, exc: Exception) -> JSONResponse:
    """The one translation of ``GraphsvcError`` into an HTTP answer, logged by route (the path
    itself may hold a phone number or an ID number)."""
    code, public = next(((code, public) for kind, code, public in _STATUSES if isinstance(exc, kind)),
                        (status.HTTP_500_INTERNAL_SERVER_ERROR, "an internal error"))
    route = getattr(request.scope.get("route"), "path", None)
    _log.log(logging.WARNING if code >= 500 else logging.INFO, "request refused",
             extra={"fields": {"route": route, "status": code, "error": type(exc).__name__}})
    # An error answered with a summary has its Chinese summarised too: its own sentence may name the same paths.
    return JSONResponse({"detail": public or str(exc), "detail_zh": chinese_detail(code, None if public else exc)},
                        status_code=code)


def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 for a request its models refuse, written as ASCII JSON: its errors echo the input,
    and a lone surrogate in a JSON body (valid JSON, not text: a note cut in the middle of 𠮷 by the
    sender) cannot be encoded as UTF-8, which turned the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    return Response(json.dumps({"detail": jsonable_encoder(exc.errors()), "detail_zh": chinese_detail(
                        status.HTTP_422_UNPROCESSABLE_CONTENT)}, ensure_ascii=True),
                    status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


def server_secret(settings: Settings) -> str:
    """The secret keying masked pseudonyms: from the settings, else made once under the home folder."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.home) / "secret_key"
    if not path.exists():  # servers starting at the same moment all read the first one made
        create_once(path, secrets.token_urlsafe(32).encode())
    return path.read_text().strip()


def create_app(settings: Settings | None = None, *, store: GraphStore | None = None,
               own_process: bool = False) -> FastAPI:
    """The API over ``store`` (opened from ``settings`` when not given; then closed on shutdown).

    ``own_process``: the app is all this process serves (``graphsvc serve``), so each time its rings
    are warm it may freeze the process's objects (``RingBook.warm``); not in a process that makes
    many apps and throws them away, such as the tests', where frozen garbage would stay.
    """
    settings = settings or Settings()
    owns_store = store is None
    store = store or open_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        remove_stale_uploads(settings.home, sole_server=store.backend_name == "embedded")
        def warm_rings() -> None:
            try:
                services.book.warm()
            except Exception as exc:  # only a head start: a detail not warmed is built when first asked for
                _log.warning("rings not warmed", extra={"fields": {"error": type(exc).__name__}})

        warming = threading.Thread(target=warm_rings, name="warm-rings", daemon=True)
        warming.start()
        services.webhooks.start()
        if store.backend_name == "embedded":  # its one server: what the store holds as running was cut off
            services.jobs.settle_cut_off()
        yield
        warming.join(timeout=60)
        services.jobs.wait_idle(timeout=30)
        services.jobs.close()
        services.webhooks.close()  # after the jobs, which publish events
        services.audit.close()
        if owns_store:
            store.close()

    # fastapi-offline serves Swagger UI and ReDoc from the package, not a CDN: fund offices'
    # networks are often closed, and /docs must work there.
    app = FastAPIOffline(title="graphsvc", version="0.1.0", description=_DESCRIPTION, lifespan=lifespan)
    book, secret = RingBook(store, freeze_when_warm=own_process), server_secret(settings)
    hooks = Webhooks(store, book, settings, secret=secret)
    services = Services(settings=settings, store=store, book=book, audit=AuditLog(store),
                        jobs=JobRunner(store, on_finished=hooks.job_finished),
                        limiter=RateLimiter(settings.rate_limit_per_minute),
                        failed_lookups=RateLimiter(settings.failed_lookups_per_minute),
                        heavy_reads=Bulkhead(settings.heavy_reads), secret=secret, webhooks=hooks)
    app.state.services = services
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(GraphsvcError, _answer)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for lost in lost_connection_errors():  # the store's server gone mid-request: 503, as any StoreError
        app.add_exception_handler(lost, _lost_store)

    store_answered = [-_STORE_CHECK_S]  # when the store last answered /health's read
    store_checking = threading.Lock()

    @app.get("/health", tags=["health"], summary="Liveness: the store answers a real read",
             response_model=Health, response_model_exclude_none=True,
             responses={503: {"model": Health,
                              "description": "the store does not answer reads; `reason` says what failed"}})
    def health(response: Response) -> Health:
        try:
            # A real read costs ~15 ms; probes come every second or so and must stay quick while
            # heavy reads run, so a store that answered within the last second is not asked again,
            # and one probe asks it while the others answer from its last answer (40 threads asking
            # at once, each second, made every probe of that second wait), unless that answer is too
            # old to vouch for the store: then they wait for the read in flight.
            since = time.monotonic() - store_answered[0]
            if since > _STORE_CHECK_S and store_checking.acquire(blocking=since > 3 * _STORE_CHECK_S):
                try:
                    if time.monotonic() - store_answered[0] > _STORE_CHECK_S:  # not read while this one waited
                        store.check()
                        store_answered[0] = time.monotonic()
                finally:
                    store_checking.release()
            rings = len(services.book.snapshot().rings)
        except Exception as exc:  # whatever the engine raises, this server cannot answer reads
            _log.error("health check: the store failed a read", exc_info=exc)
            # No login is needed here: the home's path is not shown, the operator's log has it all.
            message = str(exc).replace(str(settings.home), "HOME")
            detail = message.splitlines()[0][:300] if message else ""
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Health(status="unavailable", backend=store.backend_name,
                          reason=f"the store failed a read: {type(exc).__name__}: {detail}")
        # Entries are durable in the write-ahead file before any answer; a backlog on its way to
        # the store is reported here so that an operator sees a store that stopped taking them.
        audit = services.audit.status()
        audit_view = AuditHealth(backlog=audit["backlog"], writer_alive=audit["writer_alive"])
        if not audit["writer_alive"]:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Health(status="unavailable", backend=store.backend_name, audit=audit_view,
                          reason="the audit writer has stopped")
        return Health(status="ok", backend=store.backend_name, rings=rings, audit=audit_view)

    for module in (rings, entities, casework, jobs, stats, reports, admin, backup, vocab, webhooks, signing,
                   institution_routes):
        app.include_router(module.router)

    # The web console: static files, a client of the API above (Cytoscape.js comes from npm).
    @app.get("/", include_in_schema=False)
    def console() -> Response:
        if not (_CYTOSCAPE / "cytoscape.min.js").exists():
            return PlainTextResponse("the console's browser libraries are not installed: run scripts/setup "
                                     "(npm install in api/console)", status_code=503)
        return FileResponse(CONSOLE / "index.html")

    app.mount("/console/vendor", StaticFiles(directory=_CYTOSCAPE, check_dir=False), name="console-vendor")
    for name in ("app.js", "style.css"):
        app.add_api_route(f"/console/{name}", _static(CONSOLE / name), include_in_schema=False)
    return app


def _static(path: Path) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(path)

    return serve
