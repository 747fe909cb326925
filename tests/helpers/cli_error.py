"""The command line's one error line, read as its two halves."""

from __future__ import annotations

__all__ = ["cli_error"]


def cli_error(err: str) -> tuple[str, str]:
    """The (Chinese, English) halves of ``graphsvc: 错误：<zh> / error: <en>``, checking that ``err`` is
    that one line, Chinese first, with both halves said.

    >>> cli_error("graphsvc: 错误：没有团伙 R-9 / error: no ring R-9\\n")
    ('没有团伙 R-9', 'no ring R-9')
    """
    line = err.strip()
    assert "\n" not in line and line.startswith("graphsvc: 错误："), line
    zh, _, en = line.removeprefix("graphsvc: 错误：").partition(" / error: ")
    assert zh and en, line
    return zh, en
