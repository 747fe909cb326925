"""Webhooks for case-management systems (admins only): subscribe, list, delete, read the delivery log.

What is sent, how it is signed and which targets are allowed: ``api.webhooks``. Every call is
audited; the secret is never written to the audit log nor answered.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from api.deps import AdminDep
from api.models import Webhook, WebhookDeliveryPage, WebhookEvent, WebhookList
from api.webhooks import MIN_SECRET, host_of
from graphsvc.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(max_length=64)]


class WebhookIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL on a host in GRAPHSVC_WEBHOOK_HOSTS")
    secret: str = Field(min_length=MIN_SECRET, max_length=256,
                        description="keys the HMAC-SHA256 signature of each delivery (X-Graphsvc-Signature)")
    events: list[WebhookEvent] | None = Field(default=None, min_length=1,
                                              description="the events wanted; all when left out")


def _shown(webhook: dict[str, Any]) -> Webhook:
    return Webhook.model_validate({**webhook, "secret_hint": "…" + webhook["secret"][-4:]})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Webhook,
             summary="Subscribe a case system's URL to events (admins)",
             responses={409: {"description": "as many webhooks as GRAPHSVC_WEBHOOK_MAX_SUBSCRIPTIONS allows"},
                        422: {"description": "a target not allowed (scheme, credentials, host, address) or a short "
                                             "secret; the message says how to allow it"}})
def post_webhook(body: WebhookIn, caller: AdminDep) -> Webhook:
    services, principal = caller.services, caller.principal
    # The URL's host, not the URL: a query string may carry the receiver's own token.
    webhook_id = services.webhooks.new_id()
    with caller.audit.change("create_webhook", webhook_id, host=host_of(body.url), events=body.events or "all"):
        webhook = services.webhooks.create(webhook_id, body.url, body.secret, body.events,
                                           by=f"{principal.name} ({principal.key_id})")
    return _shown(webhook)


@router.get("", response_model=WebhookList, summary="The webhooks in force (admins); secrets are not shown")
def get_webhooks(caller: AdminDep) -> WebhookList:
    found = caller.services.webhooks.active()
    caller.audit("list_webhooks", "webhooks", count=len(found))
    return WebhookList(items=[_shown(w) for w in found])


@router.delete("/{webhook_id}", response_model=Webhook,
               summary="Stop a webhook; its deliveries not yet made are cancelled, its log kept (admins)",
               responses={404: {"description": "no such webhook, or deleted already"}})
def delete_webhook(webhook_id: WebhookId, caller: AdminDep) -> Webhook:
    with caller.audit.change("delete_webhook", webhook_id):
        return _shown(caller.services.webhooks.delete(webhook_id))


@router.get("/{webhook_id}/deliveries", response_model=WebhookDeliveryPage,
            summary="A webhook's delivery log, newest first: each attempt's status or error, the next retry (admins)",
            responses={404: {"description": "no such webhook"}})
def get_deliveries(webhook_id: WebhookId, caller: AdminDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                   size: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    services, audit = caller.services, caller.audit
    if services.webhooks.get(webhook_id) is None:
        audit("lookup_missed", webhook_id, lookup="webhook_deliveries")
        raise NotFound(f"no webhook {webhook_id!r}", zh=f"没有回调 {webhook_id!r}")
    audit("read_webhook_deliveries", webhook_id, page=page)
    total, items = services.webhooks.deliveries(webhook_id, offset=(page - 1) * size, limit=size)
    return {"total": total, "page": page, "size": size, "items": items}
