"""Webhooks: case-management systems told of new, changed and reopened rings, dispositions and jobs.

A subscription (``POST /webhooks``) names a URL, a secret and the events it wants
(``graphsvc.vocab.WEBHOOK_EVENTS``). Publishing an event writes one delivery per matching
subscription to the store and wakes the delivery thread; nothing is sent on the thread that
published it. The thread posts each delivery, signed, and retries a failure (any status but
2xx, a timeout, a refused connection) with exponential backoff until it has tried
``webhook_attempts`` times. ``webhook_timeout_s`` bounds each attempt as a whole (``_Deadline``),
not each read as httpx's timeout does: a receiver that drips its answer a byte at a time would
otherwise hold the one delivery thread, and every other subscriber's events, for as long as it drips.

Durable through the store's casework records, on every backend, without a new table:
subscriptions are records of kind ``webhook``; each delivery, with its attempts (the log of
``GET /webhooks/{id}/deliveries``), a record of kind ``webhook_delivery:<webhook id>``; the ids
of deliveries still to be made one ``webhook_outbox`` record per server (its key made once in the
server's home), read at start-up, so a delivery pending when the server stopped is tried again
when it starts (that try counts as an attempt).
The outbox names a delivery before it is written to the log (write-ahead): a crash between the two
leaves an id the next start finds no delivery for and drops, never a delivery no outbox names, so a
start reads its outbox and no log; never a send without its log.

What a case system is sent (``payload``): the event, its time, an id for idempotency (the
same on every retry and for every subscriber) and the ring's summary as the analyst role
sees it: counts, amounts, dates, regions and the disposition's status, never a name, an ID
number, a phone or the free text of a note or of the evidence, which may name persons. A case
system that needs a ring's identities asks the API with a key of its own, and that read is
audited.

Targets (``check_target``), checked when a webhook is created and again before each attempt
(a name may resolve elsewhere later): http or https only, no credentials in the URL, the host
in ``Settings.webhook_hosts``, and every address it resolves to public unless it is in
``Settings.webhook_private_networks``. Redirects are not followed, proxies and ``.netrc``
from the environment are not used, and only a short prefix of the answer is kept. Between
the check and the request the name is resolved again by the HTTP client; a name whose owner
rebinds it within that moment could still reach a private address (pinning the address
would break TLS host names).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from api.models import RingSummary
from graphsvc import vocab
from graphsvc.config import Settings
from graphsvc.errors import Conflict, InputError, NotFound
from graphsvc.files import create_once
from graphsvc.store import GraphStore
from queries.casework import effective_disposition
from queries.masking import Masker, masking
from queries.rings import RingBook, RingFilter, list_rings

__all__ = ["Webhooks", "SIGNATURE_HEADER", "sign", "check_target", "host_of", "EVENTS"]

_log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = tuple(vocab.WEBHOOK_EVENTS)
SIGNATURE_HEADER = "X-Graphsvc-Signature"
"""``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body under the subscription's secret>``."""
MIN_SECRET = 16
_RESPONSE_KEPT = 200
"""Characters of a receiver's answer kept in the delivery log (an error page's first line, not a document)."""
_SUBSCRIPTION, _OUTBOX = "webhook", "webhook_outbox"
_OWED = ("webhook_rings_owed", "rings")
"""The record (kind, key) of what case systems were last told of the rings, written before a run stores
its rings and cleared once they are announced: a process killed in between leaves it, and the next
run announces from it (else it would take the stored, never announced rings as already told)."""
_OUTBOX_ID = "webhook-outbox-id"
"""The file under the home naming this server's outbox record."""
_WATCHED = ("pattern", "score", "persons", "fund_amount", "first_seen", "last_seen")
"""A kept ring whose fields (or number of members or evidence facts) change is ``ring.updated``."""


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def _log_kind(webhook_id: str) -> str:
    return f"webhook_delivery:{webhook_id}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``.

    >>> sign("0123456789abcdef", 1700000000, b'{}')
    't=1700000000,v1=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e'
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def host_of(url: str) -> str | None:
    """The URL's host name, None when it has none or is no URL (what the audit log names).

    >>> host_of("https://casesys.example.org/hook?token=x"), host_of("http://[::1")
    ('casesys.example.org', None)
    """
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def check_target(url: str, settings: Settings) -> None:
    """Raise ``InputError`` (a 422 saying what to change) unless ``url`` may receive webhooks."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number or out of range
    except ValueError as exc:
        raise InputError(f"not a URL: {exc}", zh=f"不是有效的网址：{exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InputError("a webhook URL must start with http:// or https://", zh="回调网址须以 http:// 或 https:// 开头")
    if parts.username is not None or parts.password is not None:
        raise InputError("a webhook URL must not hold a user name or password: the signature authenticates us",
                         zh="回调网址中不得含用户名或密码：由签名证明来源")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InputError("a webhook URL must name a host", zh="回调网址须写明主机")
    allowed = [h.rstrip(".").lower() for h in _names(settings.webhook_hosts)]
    if not allowed:
        raise InputError("webhooks are off until an administrator allows their target hosts: set "
                         "GRAPHSVC_WEBHOOK_HOSTS=casesys.example.org (comma-separated) and restart the server",
                         zh="管理员尚未允许任何回调目标主机，回调未启用：请设置 GRAPHSVC_WEBHOOK_HOSTS="
                            "casesys.example.org（逗号分隔）并重启服务器")
    if host not in allowed:
        raise InputError(f"host {host} is not among the allowed webhook hosts; add it to GRAPHSVC_WEBHOOK_HOSTS",
                         zh=f"主机 {host} 不在允许的回调主机之列；请将其加入 GRAPHSVC_WEBHOOK_HOSTS")
    try:
        found = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:  # ValueError: a name IDNA cannot encode, or with a NUL in it
        raise InputError(f"host {host} cannot be resolved: {exc}", zh=f"无法解析主机 {host}：{exc}") from None
    networks = []
    for entry in _names(settings.webhook_private_networks):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise InputError(f"GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS holds {entry!r}, not an address or network",
                             zh=f"GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS 中的 {entry!r} 不是地址或网段") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if (address.is_global and not address.is_multicast) or any(address in n for n in networks):
            continue
        raise InputError(f"host {host} resolves to {address}, a loopback, link-local, private or reserved address: "
                         "allow it with GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS if this is intended",
                         zh=f"主机 {host} 解析为 {address}，是本机、链路本地、内网或保留地址；"
                            "确属有意时请用 GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS 允许")


@dataclass
class _Pending:
    webhook_id: str
    delivery_id: str
    due: float
    """``time.monotonic()`` of the next attempt."""


class Webhooks:
    """The subscriptions, the events published to them and the thread that delivers them."""

    def __init__(self, store: GraphStore, book: RingBook, settings: Settings, *, secret: str) -> None:
        self._store = store
        self._book = book
        self._settings = settings
        # A case system sees what an analyst sees (module docstring).
        self._masker = Masker("analyst", secret=secret)
        self._lock = threading.Lock()
        self._creating = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: dict[str, _Pending] = {}
        self._announcing: dict[str, str] = {}
        """Deliveries named in the outbox and being written to their logs: delivery id → webhook id."""
        self._delivered = 0
        self._given_up = 0
        self._busy = False
        self._outbox = _outbox_id(settings.home)

    # ---- subscriptions ------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        """An id for a webhook about to be created (it is audited before it exists)."""
        return f"WH-{secrets.token_hex(6)}"

    def create(self, webhook_id: str, url: str, secret: str, events: Iterable[str] | None, *,
               by: str) -> dict[str, Any]:
        if len(secret) < MIN_SECRET:
            raise InputError(f"the secret must be at least {MIN_SECRET} characters", zh=f"密钥至少须 {MIN_SECRET} 个字符")
        chosen = list(dict.fromkeys(events)) if events is not None else list(EVENTS)
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown or not chosen:
            raise InputError(f"events must be some of {', '.join(EVENTS)}", zh=f"事件须取自 {'、'.join(EVENTS)}")
        check_target(url, self._settings)
        with self._creating:  # two creates at once must not both pass the cap
            if len(self.active()) >= self._settings.webhook_max_subscriptions:
                raise Conflict(f"there are already {self._settings.webhook_max_subscriptions} webhooks, the most "
                               "allowed (GRAPHSVC_WEBHOOK_MAX_SUBSCRIPTIONS): delete one first",
                               zh=f"回调已达上限 {self._settings.webhook_max_subscriptions} 个"
                                  "（GRAPHSVC_WEBHOOK_MAX_SUBSCRIPTIONS）：请先删除一个")
            webhook: dict[str, Any] = {"id": webhook_id, "url": url, "secret": secret, "events": chosen,
                       "created_at": _now(), "created_by": by, "deleted_at": None}
            self._store.put_record(_SUBSCRIPTION, webhook_id, webhook)
        return webhook

    def active(self) -> list[dict[str, Any]]:
        """The webhooks in force, oldest first."""
        _, found = self._store.list_records(_SUBSCRIPTION, limit=100_000)
        return sorted((w for w in found if w["deleted_at"] is None), key=lambda w: (w["created_at"], w["id"]))

    def get(self, webhook_id: str) -> dict[str, Any] | None:
        """A webhook, deleted ones too (their log stays readable)."""
        return self._store.get_record(_SUBSCRIPTION, webhook_id)

    def delete(self, webhook_id: str) -> dict[str, Any]:
        """Stop a webhook: its secret is forgotten and its deliveries not yet made are cancelled. Returns
        it as it was, with the time it was deleted."""
        webhook = self.get(webhook_id)
        if webhook is None or webhook["deleted_at"] is not None:
            raise NotFound(f"no webhook {webhook_id!r}", zh=f"没有回调 {webhook_id!r}")
        webhook["deleted_at"] = _now()
        self._store.put_record(_SUBSCRIPTION, webhook_id, {**webhook, "secret": None})
        with self._lock:
            cancelled = [p for p in self._pending.values() if p.webhook_id == webhook_id]
            for p in cancelled:
                del self._pending[p.delivery_id]
            self._save_outbox()
        for p in cancelled:
            delivery = self._store.get_record(_log_kind(webhook_id), p.delivery_id)
            if delivery is not None and delivery["state"] == "pending":
                self._store.put_record(_log_kind(webhook_id), p.delivery_id,
                                       {**delivery, "state": "cancelled", "next_attempt_at": None})
        return webhook

    def deliveries(self, webhook_id: str, *, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """A webhook's deliveries, newest first."""
        return self._store.list_records(_log_kind(webhook_id), offset=offset, limit=limit)

    # ---- events -------------------------------------------------------------------------

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue ``event`` for every webhook that wants it; returns once the deliveries are stored."""
        self._publish([(event, data)], self.active())

    def _publish(self, events: list[tuple[str, dict[str, Any]]], webhooks: list[dict[str, Any]]) -> None:
        """Store one delivery of each event for each of ``webhooks`` that wants it (one write per
        webhook), then name them in the outbox and wake the delivery thread."""
        by_webhook: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for event, data in events:
            if event not in EVENTS:
                raise ValueError(f"unknown webhook event {event!r}")
            event_id = f"evt_{uuid.uuid4().hex}"
            body = json.dumps({"id": event_id, "event": event, "created_at": _now(), "data": data},
                              ensure_ascii=False, default=str)
            for webhook in webhooks:
                if event in webhook["events"]:
                    delivery = {"id": f"dlv_{uuid.uuid4().hex}", "webhook_id": webhook["id"], "event": event,
                                "event_id": event_id, "created_at": _now(), "state": "pending", "attempts": [],
                                "next_attempt_at": _now(), "body": body}
                    by_webhook.setdefault(webhook["id"], []).append((delivery["id"], delivery))
        if not by_webhook:
            return
        announced = {delivery_id: webhook_id for webhook_id, deliveries in by_webhook.items()
                     for delivery_id, _ in deliveries}
        with self._lock:
            self._announcing.update(announced)
            self._save_outbox()
        try:
            for webhook_id, deliveries in by_webhook.items():
                self._store.put_records(_log_kind(webhook_id), deliveries)
        finally:
            with self._lock:
                for delivery_id, webhook_id in announced.items():
                    self._announcing.pop(delivery_id, None)
                    # Written or not, each is tried: one whose log write failed is found missing and dropped.
                    self._pending[delivery_id] = _Pending(webhook_id, delivery_id, time.monotonic())
        self._wake.set()

    def rings_publishing(self, previous: list[dict[str, Any]]) -> None:
        """Before a detection run stores its rings: what case systems know of ``previous`` (the stored
        rings), written ahead unless an earlier run's announcement is still owed (then that one stands)."""
        owed = self._store.get_record(*_OWED)
        if owed is not None and owed.get("told") is not None:
            return
        dismissed = self._dismissed()
        self._store.put_record(*_OWED, {"told": {r["id"]: _told(r, dismissed.get(r["id"])) for r in previous}})

    def rings_published(self, previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> None:
        """After a detection run: ``ring.created`` for each new id, ``ring.updated`` for a kept ring that
        changed, ``ring.reopened`` for a dismissed ring this run's evidence reopened; against what case
        systems were told (``rings_publishing``'s record: an announcement a killed process owed is
        made now), else ``previous``."""
        dismissed = self._dismissed()
        owed = self._store.get_record(*_OWED)
        told = (owed["told"] if owed is not None and owed.get("told") is not None else
                {r["id"]: _told(r, dismissed.get(r["id"])) for r in previous})
        webhooks = [w for w in self.active() if {"ring.created", "ring.updated", "ring.reopened"} & set(w["events"])]
        events: list[tuple[str, str]] = []
        for ring in current:
            old, now = told.get(ring["id"]), _told(ring, dismissed.get(ring["id"]))
            if old is None:
                events.append(("ring.created", ring["id"]))
                continue
            if old["fingerprint"] != now["fingerprint"]:
                events.append(("ring.updated", ring["id"]))
            if now["reopened"] and not old["reopened"]:
                events.append(("ring.reopened", ring["id"]))
        if webhooks and events:
            summaries = self.ring_summaries({ring_id for _, ring_id in events})
            self._publish([(event, {"ring": summaries[ring_id]}) for event, ring_id in events if ring_id in summaries],
                          webhooks)
        self._store.put_record(*_OWED, {"told": None})  # announced (stored in the deliveries' log and outbox)

    def _dismissed(self) -> dict[str, dict[str, Any]]:
        _, decisions = self._store.list_records("disposition", limit=1_000_000)
        return {d["ring_id"]: d for d in decisions if d["status"] == "dismissed"}

    def disposition_changed(self, ring: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """A decision on ``ring`` was stored; ``previous`` is the disposition record before it."""
        webhooks = [w for w in self.active() if "disposition.changed" in w["events"]]
        if not webhooks:
            return
        summary = self.ring_summaries({ring["id"]}).get(ring["id"])
        if summary is not None:
            self._publish([("disposition.changed", {"ring": summary, "previous_status":
                                                    effective_disposition(previous, ring)["status"]})], webhooks)

    def job_finished(self, job: dict[str, Any]) -> None:
        """A background job's outcome: its state and counts, never its files' names nor its error's text
        (which may name a folder or a file: the job's page in the API says it to whoever may read it)."""
        result = job.get("result") or {}
        counts = {k: result[k] for k in ("run_id", "rings", "kept_ids", "new_ids", "retired_ids", "seconds", "totals")
                  if k in result}
        self.publish("job.finished", {"job": {
            **{k: job.get(k) for k in ("id", "kind", "state", "submitted_at", "started_at", "finished_at")},
            "result": counts}})

    def ring_summaries(self, ring_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The rings' queue rows as an analyst sees them, without the disposition's note and author."""
        page = list_rings(self._book, RingFilter(ring_ids=frozenset(ring_ids), status=tuple(vocab.DISPOSITIONS)),
                          self._masker, size=max(1, len(ring_ids)))
        shown = {}
        for item in page["items"]:
            # What leaves for another system is listed, not what stays: a free-text field added to the
            # summary or its disposition later is not sent until someone adds it here.
            summary = RingSummary.model_validate(item).model_dump(
                mode="json", context=masking(self._masker), exclude_unset=True,
                include={**{field: True for field in _SENT_RING_FIELDS}, "disposition": _SENT_DISPOSITION_FIELDS})
            shown[item["id"]] = {**summary, "run_id": page["run_id"]}
        return shown

    # ---- delivery -----------------------------------------------------------------------

    def start(self) -> None:
        """Load what was pending when the server stopped (its outbox; a delivery it names that was
        never logged is dropped when its turn comes); start delivering."""
        outbox = self._store.get_record(_OUTBOX, self._outbox) or {"deliveries": {}}
        with self._lock:
            for delivery_id, webhook_id in outbox["deliveries"].items():
                self._pending.setdefault(delivery_id, _Pending(webhook_id, delivery_id, time.monotonic()))
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop after the attempt under way; what is pending stays in the outbox for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.webhook_timeout_s + 5)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending or being sent (tests); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def counts(self) -> tuple[int, int, int]:
        """Deliveries made and deliveries given up (failed for good) since this object was made, and
        deliveries pending now."""
        with self._lock:
            return self._delivered, self._given_up, len(self._pending)

    def _save_outbox(self) -> None:
        """Store the pending deliveries' ids (call with the lock held)."""
        self._store.put_record(_OUTBOX, self._outbox, {"deliveries": {
            **{p.delivery_id: p.webhook_id for p in self._pending.values()}, **self._announcing}})

    def _run(self) -> None:
        # No kept-alive connections: each attempt opens its own, so its deadline has a socket to shut.
        with httpx.Client(timeout=self._settings.webhook_timeout_s, follow_redirects=False, trust_env=False,
                          limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set():
                with self._lock:
                    now = time.monotonic()
                    due = sorted((p for p in self._pending.values() if p.due <= now), key=lambda p: p.due)
                    wait = min((p.due - now for p in self._pending.values()), default=None)
                    self._busy = bool(due)
                    self._idle.notify_all()
                if not due:
                    self._wake.wait(timeout=wait)
                    self._wake.clear()
                    continue
                for pending in due:
                    if self._stop.is_set():
                        break
                    try:
                        self._attempt(client, pending)
                    except Exception:  # a store that fails now: the delivery stays pending, retried after a backoff
                        _log.exception("webhook delivery %s could not be recorded", pending.delivery_id)
                        pending.due = time.monotonic() + self._settings.webhook_backoff_s
        with self._lock:
            self._busy = False
            self._idle.notify_all()

    def _attempt(self, client: httpx.Client, pending: _Pending) -> None:
        kind = _log_kind(pending.webhook_id)
        delivery = self._store.get_record(kind, pending.delivery_id)
        webhook = self.get(pending.webhook_id)
        if delivery is None or delivery["state"] != "pending" or webhook is None or webhook["deleted_at"]:
            self._finish(pending)
            return
        attempt: dict[str, Any] = {"attempt": len(delivery["attempts"]) + 1, "at": _now(), "status_code": None,
                                   "error": None, "response": None}
        deadline = _Deadline(self._settings.webhook_timeout_s)
        try:
            check_target(webhook["url"], self._settings)
            body = delivery["body"].encode()
            headers = {"Content-Type": "application/json", "User-Agent": "graphsvc-webhooks",
                       "X-Graphsvc-Event": delivery["event"], "X-Graphsvc-Delivery": delivery["event_id"],
                       SIGNATURE_HEADER: sign(webhook["secret"], int(time.time()), body)}
            with deadline, client.stream("POST", webhook["url"], content=body, headers=headers,
                                         extensions={"trace": deadline.trace}) as response:
                attempt["status_code"] = response.status_code
                kept = b""
                for chunk in response.iter_bytes():
                    kept += chunk
                    if len(kept) >= _RESPONSE_KEPT:
                        break
                attempt["response"] = kept.decode("utf-8", "replace")[:_RESPONSE_KEPT]
        except InputError as exc:
            attempt["error"] = f"target refused: {exc}"
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # after the deadline, whatever the shut socket made httpx say, the time limit is why it failed
            attempt["error"] = (f"no complete answer within {self._settings.webhook_timeout_s:g} s (the attempt's "
                                "time limit)" if deadline.expired else f"{type(exc).__name__}: {str(exc)[:_RESPONSE_KEPT]}")
        attempts = [*delivery["attempts"], attempt]
        delivered = attempt["status_code"] is not None and 200 <= attempt["status_code"] < 300
        if delivered or len(attempts) >= self._settings.webhook_attempts:
            self._store.put_record(kind, pending.delivery_id, {**delivery, "attempts": attempts,
                                                               "state": "delivered" if delivered else "failed",
                                                               "next_attempt_at": None})
            self._finish(pending, delivered=delivered, given_up=not delivered)
            return
        wait = self._settings.webhook_backoff_s * 2 ** (len(attempts) - 1)
        next_at = datetime.fromtimestamp(time.time() + wait).astimezone().isoformat(timespec="milliseconds")
        self._store.put_record(kind, pending.delivery_id, {**delivery, "attempts": attempts, "next_attempt_at": next_at})
        pending.due = time.monotonic() + wait

    def _finish(self, pending: _Pending, delivered: bool = False, given_up: bool = False) -> None:
        with self._lock:
            self._delivered += delivered
            self._given_up += given_up
            self._pending.pop(pending.delivery_id, None)
            self._save_outbox()


class _Deadline:
    """An attempt's time limit as a whole. httpx's timeout bounds each read, so a receiver sending a
    header line every 0.2 s is never timed out; at the deadline a timer shuts the attempt's socket
    (known from httpcore's trace of its connection, TLS included), and the read under way fails at
    once. Used as a context: the timer runs from entering to leaving it."""

    _CONNECTED = ("connection.connect_tcp.complete", "connection.start_tls.complete")

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in self._CONNECTED:
            with self._lock:
                self._socket = info["return_value"].get_extra_info("socket")
                if self.expired:  # connected after the deadline
                    self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            # already closed: an OSError (a closed socket object holds no descriptor another could reuse)
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)


_SENT_RING_FIELDS = {"id", "pattern", "score", "priority", "tips", "persons", "members", "fund_amount", "first_seen",
                     "last_seen", "regions", "evidence"}
"""The ring summary's fields a case system is sent: counts, amounts, dates and regions."""
_SENT_DISPOSITION_FIELDS = {"status", "at", "dismissed_before", "reopened"}
"""The disposition's fields it is sent: never its note or its author, which may name persons."""


def _outbox_id(home: Path) -> str:
    """This server's outbox key, made once in its home: servers sharing one Neo4j each deliver what
    they published, and each finds its own pending deliveries when it restarts."""
    path = home / _OUTBOX_ID
    if not path.exists():  # two servers starting on one home at once both read the first one made
        create_once(path, secrets.token_hex(8).encode())
    return path.read_text().strip()


def _fingerprint(ring: dict[str, Any]) -> list[Any]:
    """What a ``ring.updated`` is about, as JSON keeps it (written ahead in ``_OWED``)."""
    return json.loads(json.dumps([*(ring.get(k) for k in _WATCHED), len(ring.get("members", ())),
                                  len(ring.get("evidence", ()))], default=str))


def _told(ring: dict[str, Any], dismissal: dict[str, Any] | None) -> dict[str, Any]:
    """What a case system told of ``ring`` knows: its fingerprint and whether it was shown reopened."""
    return {"fingerprint": _fingerprint(ring),
            "reopened": dismissal is not None and "reopened" in effective_disposition(dismissal, ring)}
