"""Entity profiles, ego networks, paths between two entities, search, and the investigator's
questions of one entity (``queries.investigative``).

A masked role (analyst) looks nodes up only by what it was shown: pseudonyms of phones,
addresses and accounts, and the ids it sees in clear. A clear personal value is refused the
same way whether the graph has it or not, and a lookup that finds nothing is audited and
spends a small per-key budget (``failed_lookups_per_minute``): probing for which values
exist runs dry within a minute, after which every lookup by that key waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from fastapi import APIRouter, Query, Response, status

from api.bulkhead import HeavyReadDep
from api.deps import Auditor, Caller, NoPoliceDep
from api.errors import ApiError, escaped
from api.models import (
    CoAdmittedPairs,
    EntityClaims,
    EntityProfile,
    Network,
    Paths,
    PersonsBehindDevice,
    SearchResult,
    SharedIdentifiers,
    answer,
)
from api.ratelimit import RateLimiter
from graphsvc import vocab
from graphsvc.network import NODE_TYPES, node_key, split_key
from queries.entities import entity_claims, entity_network, entity_profile, paths_between, search_entities
from queries.investigative import co_admitted_pairs, persons_behind_device, shared_identifiers
from queries.masking import MaskedIdentifier, Masker

__all__ = ["router", "LookupGuard"]

router = APIRouter(tags=["entities"])

if TYPE_CHECKING:  # the network's node types, known when it is loaded: a str to the type checker
    NodeType = str
else:
    NodeType = Literal[NODE_TYPES]

@dataclass(frozen=True)
class LookupGuard:
    """Turns what a caller sent into ids to look up, and counts and audits the lookups that fail."""

    masker: Masker
    audit: Auditor
    limiter: RateLimiter
    key_id: str
    per_minute: int

    @classmethod
    def of(cls, caller: Caller) -> LookupGuard:
        return cls(caller.masker, caller.audit, caller.services.failed_lookups, caller.principal.key_id,
                   caller.settings.failed_lookups_per_minute)

    def check_budget(self) -> None:
        """429 while a masked caller's budget of failed lookups is spent, for every lookup: refusing
        only the failing ones would answer the very question the budget is there to slow down."""
        wait = self.limiter.wait(self.key_id) if self.masker.active else 0.0
        if wait:
            raise ApiError(status.HTTP_429_TOO_MANY_REQUESTS,
                           f"{self.per_minute} failed lookups a minute reached; retry in {wait:.0f}s",
                           f"已达每分钟 {self.per_minute} 次查询失败的上限，请 {wait:.0f} 秒后重试",
                           headers={"Retry-After": str(max(1, round(wait)))})

    def resolve(self, node_type: str, node_id: str, *, lookup: str) -> str:
        """The clear id behind ``node_id`` for this caller; 403 (audited, counted) for a refused one."""
        try:
            return self.masker.lookup_id(node_type, node_id)
        except MaskedIdentifier as exc:
            self.audit("lookup_refused", f"{node_type}:{node_id}", lookup=lookup)
            self.limiter.acquire(self.key_id)
            raise ApiError(status.HTTP_403_FORBIDDEN, str(exc),
                           "脱敏角色不能以明文标识查询，请使用页面上显示的脱敏编号") from None

    def missed(self, target: str, *, lookup: str) -> None:
        """A lookup found nothing: audit it (with the clear target) and spend the caller's budget."""
        self.audit("lookup_missed", target, lookup=lookup)
        if self.masker.active:
            self.limiter.acquire(self.key_id)


@router.get("/entities/{node_type}/{node_id}", response_model=EntityProfile,
            summary="Attributes, claim summary, rings and flags of an entity")
def get_entity(node_type: NodeType, node_id: str, caller: NoPoliceDep) -> Response:
    clear, profile = _ask(LookupGuard.of(caller), node_type, node_id, "read_entity",
                          lambda entity: entity_profile(caller.store, caller.book, node_type, entity))
    caller.audit("read_entity", node_key(node_type, clear))
    return answer(EntityProfile.model_validate(profile), caller.masker)


@router.get("/entities/{node_type}/{node_id}/claims", response_model=EntityClaims,
            summary="The claims naming an entity (a person's, a card's, an institution's...), newest first, paged")
def get_entity_claims(node_type: NodeType, node_id: str, caller: NoPoliceDep,
                      page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                      size: Annotated[int, Query(ge=1, le=500)] = 50, _heavy: HeavyReadDep = None) -> Response:
    clear, claims = _ask(LookupGuard.of(caller), node_type, node_id, "read_entity_claims",
                         lambda entity: entity_claims(caller.store, node_type, entity, page=page, size=size))
    caller.audit("read_entity_claims", node_key(node_type, clear), page=page, size=size, claims=len(claims["items"]))
    return answer(EntityClaims.model_validate(claims), caller.masker)


@router.get("/entities/{node_type}/{node_id}/network", response_model=Network,
            summary="Ego network: nodes + edges, capped, hubs not expanded")
def get_network(node_type: NodeType, node_id: str, caller: NoPoliceDep,
                hops: Annotated[int, Query(ge=1, le=3)] = 1,
                limit: Annotated[int, Query(ge=1, le=2000, description="most nodes returned")] = 200,
                _heavy: HeavyReadDep = None) -> Response:
    clear, network = _ask(LookupGuard.of(caller), node_type, node_id, "read_network",
                          lambda entity: entity_network(caller.store, node_type, entity, hops=hops, limit=limit,
                                                        hub_degree=caller.settings.hub_degree))
    caller.audit("read_network", node_key(node_type, clear), hops=hops, limit=limit, nodes=len(network["nodes"]))
    return answer(Network.model_validate(network), caller.masker)


@router.get("/paths", response_model=Paths, summary="Shortest paths between two entities (not through hubs)")
def get_paths(caller: NoPoliceDep,
              # long enough for an address's pseudonym (the address sealed, base64)
              source: Annotated[str, Query(alias="from", max_length=1000, description="TYPE:ID, e.g. person:P0001")],
              target: Annotated[str, Query(alias="to", max_length=1000, description="TYPE:ID")],
              max_hops: Annotated[int, Query(ge=1, le=6)] = 4,
              _heavy: HeavyReadDep = None) -> Response:
    guard = LookupGuard.of(caller)
    guard.check_budget()
    ends = []
    for key in (source, target):
        try:
            node_type, node_id = split_key(key)
        except ValueError as exc:
            raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), "实体须写作 类型:编号，例如 person:P0001") from None
        ends.append(node_key(node_type, guard.resolve(node_type, node_id, lookup="read_paths")))
    if ends[0] == ends[1]:  # said before any lookup, so it tells nothing about the entity
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "from and to name the same entity", "起点与终点是同一实体")
    found = paths_between(caller.store, ends[0], ends[1], max_hops=max_hops, hub_degree=caller.settings.hub_degree)
    if found is None:
        guard.missed(f"{ends[0]} -> {ends[1]}", lookup="read_paths")
        raise ApiError(status.HTTP_404_NOT_FOUND, "one of the two entities is not in the graph", "两个实体中有一个不在关系图中")
    caller.audit("read_paths", f"{ends[0]} -> {ends[1]}", max_hops=max_hops, found=len(found["paths"]))
    return answer(Paths.model_validate(found), caller.masker)


@router.get("/search", response_model=SearchResult,
            summary="Find entities by name, phone, ID number, card, institution or prescriber code")
def get_search(caller: NoPoliceDep, q: Annotated[str, Query(min_length=1, max_length=100)],
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Response:
    if not q.strip():
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "q must not be blank", "搜索内容不能为空")
    guard, masker = LookupGuard.of(caller), caller.masker
    guard.check_budget()
    hits = search_entities(caller.store, q, masker, limit=limit)
    # The clear query is kept: the audit log is for admins, who must see what was looked up.
    if hits:
        caller.audit("search", q, hits=len(hits))
    else:
        guard.missed(q, lookup="search")
    return answer(SearchResult.model_validate({"q": masker.text(q), "hits": hits}), masker)


Found = TypeVar("Found")


def _ask(guard: LookupGuard, node_type: str, node_id: str, lookup: str,
         question: Callable[[str], Found | None]) -> tuple[str, Found]:
    """``question`` about the entity the caller named, and its clear id; 404 (audited, counted)
    for an entity the graph does not hold."""
    guard.check_budget()
    clear = guard.resolve(node_type, node_id, lookup=lookup)
    found = question(clear)
    if found is None:
        guard.missed(node_key(node_type, clear), lookup=lookup)
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no {node_type} {node_id!r} in the graph",
                       f"关系图中没有该{vocab.NODE_TYPES[node_type].zh}：{escaped(node_id)}")
    return clear, found


@router.get("/entities/person/{person_id}/shared-identifiers", response_model=SharedIdentifiers,
            summary="Phones, addresses, devices and accounts a person shares with other persons, and with whom")
def get_shared_identifiers(person_id: str, caller: NoPoliceDep, _heavy: HeavyReadDep = None) -> Response:
    clear, shared = _ask(LookupGuard.of(caller), "person", person_id, "read_shared_identifiers",
                         lambda person: shared_identifiers(caller.store, person))
    caller.audit("read_shared_identifiers", node_key("person", clear), identifiers=len(shared))
    return answer(SharedIdentifiers.model_validate({"person": clear, "shared": shared}), caller.masker)


@router.get("/entities/device/{device_id}/persons", response_model=PersonsBehindDevice,
            summary="Persons behind a device: holders of e-vouchers on it and persons whose cards it scanned")
def get_persons_behind_device(device_id: str, caller: NoPoliceDep, _heavy: HeavyReadDep = None) -> Response:
    clear, persons = _ask(LookupGuard.of(caller), "device", device_id, "read_device_persons",
                          lambda device: persons_behind_device(caller.store, device))
    caller.audit("read_device_persons", node_key("device", clear), persons=len(persons))
    return answer(PersonsBehindDevice.model_validate({"device": clear, "persons": persons}), caller.masker)


@router.get("/entities/institution/{institution_id}/co-admitted", response_model=CoAdmittedPairs,
            summary="Pairs of persons admitted to an institution on the same day on several separate days")
def get_co_admitted(institution_id: str, caller: NoPoliceDep,
                    min_times: Annotated[int, Query(ge=2, le=366, description="days together")] = 2,
                    _heavy: HeavyReadDep = None) -> Response:
    clear, pairs = _ask(LookupGuard.of(caller), "institution", institution_id, "read_co_admitted",
                        lambda institution: co_admitted_pairs(caller.store, institution, min_times=min_times))
    caller.audit("read_co_admitted", node_key("institution", clear), min_times=min_times, pairs=len(pairs))
    return answer(CoAdmittedPairs.model_validate({"institution": clear, "min_times": min_times, "pairs": pairs}),
                  caller.masker)
