"""Why a row was rejected, in Chinese first for the clerk who corrects the export, English beside it.

Ingest says each reason in English where it finds it (validation SQL, reference checks, the readers);
the rejects file and ``GET /jobs/{id}/rejects`` carry this Chinese sentence beside it, the column named
by its header label (``graphsvc.vocab.COLUMNS``), so that 就诊时间 is what the clerk looks for, not
start_time. A reason no rule here knows is given as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from graphsvc import vocab
from ingest.aliases import FILE_ALIASES

__all__ = ["chinese_reason"]


def _column(name: str) -> str:
    term = vocab.COLUMNS.get(name)
    return f"{term.zh}（{name}）" if term else name


def _tables(names: str) -> str:
    return "、".join(FILE_ALIASES.get(n, (n,))[0] for n in names.split(", "))


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern, re.DOTALL), say) for pattern, say in (
        (r"missing required ([a-z_]+)", lambda m: f"缺少必填项 {_column(m[1])}"),
        (r"unparseable ([a-z_]+) (\".*\")", lambda m: f"{_column(m[1])} 无法识别：{m[2]}"),
        (r"invalid ([a-z_]+) (\".*\") \(expected (.*)\)", lambda m: f"{_column(m[1])} 取值无效：{m[2]}（应为 {m[3]}）"),
        (r"required ([a-z_]+) is (\".*\"), which says it is unknown", lambda m: f"必填项 {_column(m[1])} 为 {m[2]}，即未知"),
        (r"end_time before start_time", lambda m: "出院时间早于入院时间"),
        (r"unknown ([a-z_]+) (.*) \(not in ([a-z_, ]+)\)",
         lambda m: f"{_column(m[1])} {m[2]} 不存在（{_tables(m[3])}中没有）"),
        (r"duplicate ([a-z_]+) (.*) with other content \(first at line (\d+)\)",
         lambda m: f"{_column(m[1])} {m[2]} 重复且内容不同（首次出现在第 {m[3]} 行）"),
        (r"([a-z_]+) (.*) is already loaded with different content",
         lambda m: f"{_column(m[1])} {m[2]} 已入库，内容不同（更正前请核对已入库的记录）"),
        (r"expected (\d+) fields, found (\d+)", lambda m: f"应有 {m[1]} 列，实有 {m[2]} 列"),
        (r"a value longer than ([\d,]+) characters", lambda m: f"有值超过 {m[1]} 个字符"),
        (r"bytes (.*) are not (.*) text", lambda m: f"字节 {m[1]} 不是 {m[2]} 文本（文件编码不符）"),
        (r"the file is damaged: (.*)", lambda m: f"文件已损坏，此处及以后无法读取：{m[1]}"),
        (r"control character in ([a-z_]+)", lambda m: f"{_column(m[1])} 含控制字符"),
        (r"noncharacter U\+FFFE or U\+FFFF in ([a-z_]+) .*", lambda m: f"{_column(m[1])} 含非法字符 U+FFFE 或 U+FFFF"),
        (r"([a-z_]+) over ([\d,]+) characters .*", lambda m: f"{_column(m[1])} 超过 {m[2]} 个字符"),
        (r"([a-z_]+) has an element over ([\d,]+) characters .*", lambda m: f"{_column(m[1])} 中某项超过 {m[2]} 个字符"),
    ))


def chinese_reason(reason: str) -> str:
    """The Chinese of a reject's reason (its parts, joined with "; ", each said in turn).

    >>> chinese_reason('unparseable start_time "2026-13-45 09:00"; unknown person_id P9 (not in persons)')
    '就诊时间（start_time） 无法识别："2026-13-45 09:00"；参保人编号（person_id） P9 不存在（参保人中没有）'
    >>> chinese_reason('invalid kind "看病" (expected inpatient, outpatient, pharmacy)')
    '类别（kind） 取值无效："看病"（应为 inpatient, outpatient, pharmacy）'
    >>> chinese_reason("something new")
    'something new'
    """
    said = []
    for part in reason.split("; "):
        for pattern, say in _RULES:
            if (match := pattern.fullmatch(part)) is not None:
                said.append(say(match))
                break
        else:
            said.append(part)
    return "；".join(said)
