"""Turn generated arrays into contract CSV files, streaming, with optional realistic dirt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from graphsvc.generate import text
from graphsvc.generate.city import City
from graphsvc.model import ENTITY_TABLES

__all__ = ["ContractWriter", "settlement_columns", "institution_ids"]

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _phone_strings(numbers: np.ndarray) -> pa.Array:
    strings = pa.array(numbers, pa.int64()).cast(pa.string())
    return pc.if_else(pa.array(numbers >= 0), strings, pa.nulls(len(numbers), pa.string()))


def settlement_columns(city: City, frame: dict, first_serial: int) -> dict[str, pa.Array]:
    """Contract columns for a frame of settlements (see ``routine_settlements``)."""
    n = len(frame["person"])
    serial = np.arange(first_serial, first_serial + n)
    if "card_id" in frame:
        card = pa.array(frame["card_id"], pa.string())
    else:
        holder = frame["card_holder"]
        card = pc.if_else(pa.array(frame["evoucher"]), text.ids("E", holder, 7), text.ids("C", holder, 7))
    inst = frame["institution"]
    inst_ids = institution_ids(city)
    prescriber = frame["prescriber"]
    end = frame["end"]
    if "trace_codes" in frame:
        trace = pa.array(frame["trace_codes"], pa.string())
    else:
        codes = text.ids("8", serial, 19)
        trace = pc.if_else(pa.array(frame["trace"]), codes, pa.nulls(n, pa.string()))
    operator = frame.get("operator")
    if operator is None:
        operator = text.concat(inst_ids.take(pa.array(inst)), "-OP", pa.array(frame["operator_no"]).cast(pa.string()))
    none = pa.nulls(n, pa.string())
    return {
        "settlement_id": text.ids("S", serial, 10),
        "kind": pa.array(frame["kind"], pa.string()),
        "person_id": text.ids("P", frame["person"], 7),
        "card_id": card,
        "institution_id": inst_ids.take(pa.array(inst)),
        "prescriber_id": pc.if_else(pa.array(prescriber >= 0), text.ids("DR", np.maximum(prescriber, 0), 5), none),
        "start_time": text.times(frame["start"]),
        "end_time": pc.if_else(pa.array(end >= 0), text.times(np.maximum(end, 0)), none),
        "total_amount": text.amounts(frame["total"]),
        "fund_amount": text.amounts(frame["fund"]),
        "items": pa.array(frame["items"], pa.string()),
        "contact_phone": _phone_strings(frame["contact_phone"]),
        "agent_id": pa.array(frame.get("agent", np.full(n, None, object)), pa.string()),
        "payee_account": pa.array(frame.get("payee", np.full(n, None, object)), pa.string()),
        "device_id": pc.if_else(pa.array(frame["device"] >= 0), text.ids("D", np.maximum(frame["device"], 0), 7), none),
        "operator_id": operator,
        "trace_codes": trace,
    }


def institution_ids(city: City) -> pa.Array:
    return pa.array([city.institution_id(i) for i in range(len(city.inst_kind))], pa.string())


class ContractWriter:
    """Writes the contract folder; ``dirt`` is the share of rows given repairable dirt.

    Repairable dirt (full-width digits, ``+86`` phones, trailing spaces) must load as if clean;
    a tenth as many rows are broken beyond repair (an impossible date, a missing person) and
    must be rejected. ``broken`` counts those, so tests know the expected rejects.
    ``variants`` (hard realism, ``hard.Variants``) respells a share of clean cells afterwards.
    """

    def __init__(self, folder: Path, rng: np.random.Generator, dirt: float, variants: Any = None) -> None:
        self.folder = folder
        self.variants = variants
        self.rng = rng
        self.dirt = dirt
        self.broken = 0
        self.settlements_written = 0
        self._settlements: pa_csv.CSVWriter | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def write_table(self, name: str, columns: dict[str, pa.Array]) -> None:
        if self.variants is not None:
            columns = self.variants.apply(name, columns)
        pa_csv.write_csv(self._table(name, columns), self.folder / f"{name}.csv")

    def write_settlements(self, columns: dict[str, pa.Array], *, dirty: bool) -> None:
        table = self._table("settlements", columns)
        if dirty and self.dirt > 0:
            table = self._soil(table)
        if self.variants is not None:
            columns = self.variants.apply("settlements", {c: table.column(c) for c in table.column_names})
            table = pa.table(columns)
        if self._settlements is None:
            self._settlements = pa_csv.CSVWriter(self.folder / "settlements.csv", table.schema)
        self._settlements.write_table(table)
        self.settlements_written += table.num_rows

    def close(self) -> None:
        if self._settlements is not None:
            self._settlements.close()

    @staticmethod
    def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
        spec = ENTITY_TABLES[name]
        n = len(next(iter(columns.values())))
        return pa.table({c: columns.get(c, pa.nulls(n, pa.string())) for c in spec.column_names})

    def _soil(self, table: pa.Table) -> pa.Table:
        rng = self.rng
        dirty = np.flatnonzero(rng.random(table.num_rows) < self.dirt)
        if len(dirty) == 0:
            return table
        names = ("settlement_id", "contact_phone", "start_time", "person_id")
        picked = {name: table.column(name).take(pa.array(dirty)).to_pylist() for name in names}
        for j in range(len(dirty)):
            roll = rng.random()
            phone = picked["contact_phone"][j]
            if roll < 0.1:
                self.broken += 1
                if roll < 0.05:
                    picked["start_time"][j] = "2026-13-45 25:61:00"
                else:
                    picked["person_id"][j] = ""
            elif roll < 0.4 and phone:
                picked["contact_phone"][j] = "+86 " + phone[:3] + "-" + phone[3:]
            elif roll < 0.7 and phone:
                picked["contact_phone"][j] = phone.translate(_FULL_WIDTH)
            else:
                picked["settlement_id"][j] += "  "
        mask = np.zeros(table.num_rows, bool)
        mask[dirty] = True
        for name, values in picked.items():
            column = pc.replace_with_mask(table.column(name).combine_chunks(), pa.array(mask), pa.array(values, pa.string()))
            table = table.set_column(table.column_names.index(name), name, column)
        return table
