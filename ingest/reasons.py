"""Why a row was rejected, and what was noted of a file, in Chinese first for the clerk who corrects the
export, English beside it.

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

__all__ = ["chinese_reason", "chinese_note"]


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
    return _say(reason, _RULES)


_NOTES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern, re.DOTALL), say) for pattern, say in (
        (r"not UTF-8", lambda m: "不是 UTF-8 编码"),
        (r"read as GB18030", lambda m: "已按 GB18030 读取"),
        (r"empty file: no header row, nothing to read", lambda m: "空文件：没有表头，未读取"),
        (r"not CSV text: ([\d,]+) of its first ([\d,]+) bytes are control characters or not UTF-8 or GB18030 text",
         lambda m: f"不是 CSV 文本：前 {m[2]} 字节中有 {m[1]} 个控制字符或非 UTF-8/GB18030 文本"),
        (r"nothing of it was read \(save it as CSV UTF-8\)", lambda m: "未读取任何内容（请另存为 CSV UTF-8）"),
        (r"no header row: its first line is longer than ([\d,]+) bytes", lambda m: f"没有表头：第一行超过 {m[1]} 字节"),
        (r"no header row: its first line holds .*", lambda m: "没有表头：第一行有超长字段"),
        (r"no rows after the header", lambda m: "表头之后没有数据行"),
        (r"repeated column\(s\) (.*): the first of each is read", lambda m: f"列名重复：{m[1]}，每列只读取第一个"),
        (r"row\(s\) 1-(\d+) above the header skipped \(a title\)", lambda m: f"表头上方第 1-{m[1]} 行（标题）已跳过"),
        (r"sheet\(s\) (.*) not read: only the first sheet of a workbook is",
         lambda m: f"工作表 {m[1]} 未读取：只读取工作簿的第一个工作表"),
        (r"save each sheet as a file of its own \((.*)\) and ingest again",
         lambda m: f"请将各工作表另存为单独文件（{m[1]}）后再导入"),
        (r"could not be read \((.*)\)", lambda m: f"无法读取（{m[1]}）"),
        (r"nothing of it was loaded: re-export it and ingest again", lambda m: "未载入任何内容：请重新导出后再导入"),
    ))
"""What ingest notes of a file (``SourceFile.note``), said in Chinese."""


def chinese_note(note: str) -> str:
    """The Chinese of what ingest noted of a file (its parts, joined with "; ", each said in turn).

    >>> chinese_note("not UTF-8; read as GB18030; repeated column(s) 姓名: the first of each is read")
    '不是 UTF-8 编码；已按 GB18030 读取；列名重复：姓名，每列只读取第一个'
    >>> chinese_note("something new")
    'something new'
    """
    return _say(note, _NOTES)


def _say(text: str, rules: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]) -> str:
    """``text``'s parts (joined with "; "), each said by the first rule that matches it whole, else as it is."""
    said = []
    for part in text.split("; "):
        for pattern, say in rules:
            if (match := pattern.fullmatch(part)) is not None:
                said.append(say(match))
                break
        else:
            said.append(part)
    return "；".join(said)
