"""JSON responses serialised by orjson, returned directly so FastAPI skips its generic encoder.

A ring's detail or a 2-hop network is a few hundred nested dicts; FastAPI's
``jsonable_encoder`` walks them in Python before ``json.dumps`` runs, which cost more than
computing the answer. orjson (a maintained Rust library) writes dates, datetimes and
numpy scalars itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import Response

__all__ = ["FastJSONResponse", "dumps"]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)
