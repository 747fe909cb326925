"""Reading detection results in tests."""

from __future__ import annotations

from collections.abc import Iterable

from graphsvc.detect import DetectionResult
from graphsvc.detect.rings import Ring


def rings_of(result: DetectionResult, persons: Iterable[str]) -> list[Ring]:
    """The rings holding any of ``persons``, in the result's order (highest score first)."""
    wanted = set(persons)
    return [r for r in result.rings if wanted & set(r.persons)]
