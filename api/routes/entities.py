"""Entity profiles, ego networks, paths between two entities, and search."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import AuditDep, BookDep, MaskerDep, NoPoliceDep, ServicesDep, StoreDep
from api.responses import FastJSONResponse
from graphsvc.network import NODE_TYPES, split_key
from queries.entities import entity_network, entity_profile, paths_between, search_entities
from queries.masking import Masker

router = APIRouter(tags=["entities"])

NodeType = Literal[NODE_TYPES]  # type: ignore[valid-type]


def _unmasked(masker: Masker, node_type: str, node_id: str) -> None:
    if masker.is_masked_id(node_type, node_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"{node_type} values are masked for the {masker.role} role and cannot be looked up")


@router.get("/entities/{node_type}/{node_id}", summary="Attributes, claim summary, rings and flags of an entity")
def get_entity(node_type: NodeType, node_id: str, store: StoreDep, book: BookDep, masker: MaskerDep,
               audit: AuditDep, _: NoPoliceDep) -> FastJSONResponse:
    _unmasked(masker, node_type, node_id)
    profile = entity_profile(store, book, node_type, node_id, masker)
    if profile is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {node_type} {node_id!r} in the graph")
    audit("read_entity", f"{node_type}:{node_id}")
    return FastJSONResponse(profile)


# Answered from the in-memory neighbour index in about a millisecond: on the event loop.
@router.get("/entities/{node_type}/{node_id}/network", summary="Ego network: nodes + edges, capped, hubs not expanded")
async def get_network(node_type: NodeType, node_id: str, store: StoreDep, services: ServicesDep, masker: MaskerDep,
                audit: AuditDep, _: NoPoliceDep, hops: Annotated[int, Query(ge=1, le=3)] = 1,
                limit: Annotated[int, Query(ge=1, le=2000, description="most nodes returned")] = 200) -> FastJSONResponse:
    _unmasked(masker, node_type, node_id)
    network = entity_network(store, node_type, node_id, masker, hops=hops, limit=limit,
                             hub_degree=services.settings.hub_degree)
    if network is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {node_type} {node_id!r} in the graph")
    audit("read_network", f"{node_type}:{node_id}", hops=hops, limit=limit, nodes=len(network["nodes"]))
    return FastJSONResponse(network)


@router.get("/paths", summary="Shortest paths between two entities (not through hubs)")
def get_paths(store: StoreDep, services: ServicesDep, masker: MaskerDep, audit: AuditDep, _: NoPoliceDep,
              source: Annotated[str, Query(alias="from", max_length=300, description="TYPE:ID, e.g. person:P0001")],
              target: Annotated[str, Query(alias="to", max_length=300, description="TYPE:ID")],
              max_hops: Annotated[int, Query(ge=1, le=6)] = 4) -> FastJSONResponse:
    for key in (source, target):
        try:
            _unmasked(masker, *split_key(key))
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    found = paths_between(store, source, target, masker, max_hops=max_hops, hub_degree=services.settings.hub_degree)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "one of the two entities is not in the graph")
    audit("read_paths", f"{source} -> {target}", max_hops=max_hops, found=len(found["paths"]))
    return FastJSONResponse(found)


@router.get("/search", summary="Find entities by name, phone, ID number, card, institution or prescriber code")
def get_search(store: StoreDep, masker: MaskerDep, audit: AuditDep, _: NoPoliceDep,
               q: Annotated[str, Query(min_length=1, max_length=100)],
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> FastJSONResponse:
    if not q.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "q must not be blank")
    hits = search_entities(store, q, masker, limit=limit)
    audit("search", q if not masker.active else masker.text(q), hits=len(hits))
    return FastJSONResponse({"q": masker.text(q), "hits": hits})
