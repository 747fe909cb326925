"""Writing stored data into spreadsheets safely, one rule for every workbook and CSV the service
writes (the police package, the monthly report): text that a spreadsheet would run as a formula
stays text, and characters XML cannot hold (``graphsvc.xmltext``) never reach a workbook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

from graphsvc.xmltext import xml_text

__all__ = ["FORMULA_START", "reads_as_formula", "append_row"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a text cell as a formula (OWASP, CSV injection): a name such as
``=HYPERLINK(...)`` in the data must reach its reader as text, never run on their machine."""


def reads_as_formula(value: Any) -> bool:
    """Whether a spreadsheet would run ``value`` (text starting with ``FORMULA_START``); numbers never.

    >>> reads_as_formula("=1+2"), reads_as_formula("-5"), reads_as_formula(-5.0), reads_as_formula("a=b")
    (True, True, False, False)
    """
    return isinstance(value, str) and value.startswith(FORMULA_START)


def append_row(sheet: Worksheet, values: list[Any]) -> None:
    """One row; text a spreadsheet would run is typed as text (openpyxl would store ``=...`` as a
    formula) and quote-prefixed, as Excel marks what a user typed after ``'``: the value reaches the
    reader unchanged, shows as text and stays text when the cell is edited. Times lose their zone
    (a workbook has none), characters XML cannot hold become U+FFFD."""
    sheet.append([xml_text(value) if isinstance(value, str)
                  else value.replace(tzinfo=None) if isinstance(value, datetime) else value for value in values])
    for cell in sheet[sheet.max_row]:
        if reads_as_formula(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True
