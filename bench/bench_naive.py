"""The named alternative of the ingest benchmark: row-at-a-time Python parsing and validation.

Same checks as graphsvc's on the settlement columns that need parsing (required fields,
times, amounts, phones), one row at a time, appended to Arrow tables of 50,000 rows.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

import pyarrow as pa

_NOT_DIGIT = re.compile(r"[^0-9]")


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _amount(value: str) -> Decimal | None:
    try:
        return Decimal(value.replace(",", "")) if value else None
    except InvalidOperation:
        return None


def load(path: str, limit: int) -> dict:
    rows, rejected, tables = [], 0, []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= limit:
                break
            row = {k: v.strip() for k, v in row.items()}
            start, end = _time(row["start_time"]), _time(row["end_time"])
            total, fund = _amount(row["total_amount"]), _amount(row["fund_amount"])
            phone = _NOT_DIGIT.sub("", row["contact_phone"])
            if not row["settlement_id"] or not row["person_id"] or start is None:
                rejected += 1
                continue
            row.update(start_time=start, end_time=end, total_amount=total, fund_amount=fund, contact_phone=phone or None)
            rows.append(row)
            if len(rows) == 50_000:
                tables.append(pa.Table.from_pylist(rows))
                rows = []
    if rows:
        tables.append(pa.Table.from_pylist(rows))
    return {"settlement_rows": sum(t.num_rows for t in tables) + rejected}
