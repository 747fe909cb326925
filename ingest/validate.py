"""Normalise and validate one batch of raw rows, vectorised in an in-memory DuckDB.

What real exports get wrong and is repaired here: full-width digits, letters and spaces
(NFKC), phones written as ``+86 138-0013-8000``, ``0571-8888 8888转123`` (``graphsvc.phones``), bank accounts written in
groups (``6222 0000 0000 0017``, stored as digits only), ID numbers with a lower-case x or
spaces (stored upper-cased, without spaces), trailing spaces in ids,
``1,234.50元`` amounts, ``2024/03/05`` dates, Chinese enum values (住院, 男, 城乡居民).
What breaks the contract becomes a reason, and the row a reject: a missing required field,
an unparseable time, date, amount or phone, an enum value outside the list, a discharge
before the admission, a key repeated in the file with other content, a character XML cannot hold (a NUL from a broken
export would make an id no one can type; it, or a noncharacter U+FFFF, makes the police package's
network picture and workbooks unreadable: ``graphsvc.xmltext``).

Addresses are stored as written (spaces removed) beside ``address_key``, their household key
(``ingest.resolve.canonical_address``); persons get ``person_key`` = their own id here, which
the end of the ingest recomputes over the whole table (``GraphStore.refresh_person_keys``).

ID numbers are checked (length, birth date, GB 11643 check digit) but never rejected:
an invalid one is kept and flagged ``id_number_valid = false``, because a wrong ID number on
an otherwise good claim is itself a lead.
"""

from __future__ import annotations

import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.model import Column, EntityTable
from graphsvc.phones import PHONE_KEY_PATTERN, phone_keys
from graphsvc.store.base import LINE, ROW_HASH
from graphsvc.xmltext import XML_UNFIT
from ingest.aliases import MISSING_VALUES, VALUE_ALIASES
from ingest.resolve import ID_CHECK_CHARS, account_sql, address_keys, id_digit_sum_sql

__all__ = ["BatchValidator", "validation_sql", "row_hash_sql", "STATUS", "REASON", "MAX_VALUE_CHARS"]

STATUS = "_status"
"""``ok`` (load it), ``repeat`` (same key and content earlier in the batch: skip), ``reject``."""
REASON = "_reason"
_UNFIT = "_unfit"
"""Input column: the reason a value of the row holds a character XML cannot hold, NULL when none."""
_CONTROL_CHARS = f"[{XML_UNFIT}]"
"""The characters XML, and so an XLSX export or the package's SVG, cannot hold: C0 controls but tab
and line breaks (a quoted line break in items is real), U+FFFE and U+FFFF."""

# The contract's forms first (tried in order: most values parse at the first), then what Chinese Excel
# and fund systems write: 2024/3/5 15:05, 2024年3月5日 15:05, 2024.03.05, 下午3:05 (read as PM3:05).
_DATETIME_FORMATS = [
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S",
    "%Y-%m-%d", "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日%H:%M", "%Y年%m月%d日", "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d %H:%M", "%Y.%m.%d", "%Y/%m/%d %p%I:%M:%S", "%Y/%m/%d %p%I:%M", "%Y/%m/%d%p%I:%M",
    "%Y-%m-%d %p%I:%M:%S", "%Y-%m-%d %p%I:%M", "%Y年%m月%d日 %p%I:%M", "%Y年%m月%d日%p%I:%M",
]
_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y年%m月%d日", "%Y.%m.%d"]
_MERIDIEM = ((r"中午\s*(1[01])", r"AM\1"), (r"(上午|早上|凌晨)\s*", "AM"), (r"(下午|中午|晚上)\s*", "PM"))
"""Chinese for AM and PM, written before the hour (下午3:05, Windows' 上午 9:30), made %p's words before the
formats read them, in order: 中午 (about 11 to 13 o'clock) is AM at 11. 晚上12 (midnight, the next day's
00:00) is left to be refused: a date a day early is worse than a reject."""


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _formats(formats: list[str]) -> str:
    return "[" + ", ".join(_lit(f) for f in formats) + "]"


def _cleaned(col: Column) -> str:
    """The column as text, NULL when empty; kind-specific tidying.

    Values arrive NFKC-normalised and trimmed of white space (see ``_normalise``).
    """
    raw = _ident(col.name)
    if col.kind == "enum":
        missing = [v.lower() for v in MISSING_VALUES.get("*", ()) + MISSING_VALUES.get(col.name, ())]
        return f"CASE WHEN lower({raw}) IN ({', '.join(map(_lit, missing))}) THEN NULL ELSE nullif({raw}, '') END"
    if col.kind in ("date", "datetime"):
        said = raw
        for pattern, meridiem in _MERIDIEM:
            said = f"regexp_replace({said}, {_lit(pattern)}, {_lit(meridiem)}, 'g')"
        said = rf"CASE WHEN regexp_matches({raw}, '晚上\s*12') THEN {raw} ELSE {said} END"
        return f"nullif(CASE WHEN contains({raw}, '午') OR contains({raw}, '晨') OR contains({raw}, '上') THEN {said} ELSE {raw} END, '')"
    if col.kind == "text":
        return rf"nullif(regexp_replace({raw}, '\s+', ' ', 'g'), '')"
    if col.kind in ("address", "id_number"):
        # Chinese addresses carry no meaningful spaces; stray ones would split one address in two.
        tidy = rf"regexp_replace({raw}, '\s+', '', 'g')"
        return f"nullif(upper({tidy}), '')" if col.kind == "id_number" else f"nullif({tidy}, '')"
    if col.kind == "phone":  # keyed before the query (``BatchValidator.validate``); no digit: NULL
        return f"nullif({raw}, '')"
    if col.kind == "account":
        return account_sql(raw)
    return f"nullif({raw}, '')"


def _enum_spellings(table: EntityTable, col: Column) -> dict[str, str]:
    spellings = {v.lower(): v for v in col.values}
    for key in (f"{table.name}.{col.name}", col.name):
        for alias, value in VALUE_ALIASES.get(key, {}).items():
            spellings.setdefault(alias.lower(), value)
    return spellings


_BEFORE_YEAR_1000_DATE = "DATE '0999-12-31'"
_BEFORE_YEAR_1000_TIME = "TIMESTAMP '0999-12-31 23:59:59.999999'"


def _typed(table: EntityTable, col: Column, cleaned: str) -> str:
    """The column's stored value; NULL where the cleaned text does not parse."""
    # %Y reads any number of digits: 24.3.5 was the year 24 (and 0000, 1 BC, failed every Python reader
    # of the row afterwards). No claim or birth is before the year 1000: greatest/nullif make such a value
    # NULL, a reject, with one parse per value.
    if col.kind == "date":
        return (f"nullif(greatest(CAST(try_strptime({cleaned}, {_formats(_DATE_FORMATS)}) AS DATE), "
                f"{_BEFORE_YEAR_1000_DATE}), {_BEFORE_YEAR_1000_DATE})")
    if col.kind == "datetime":
        return (f"nullif(greatest(try_strptime({cleaned}, {_formats(_DATETIME_FORMATS)}), {_BEFORE_YEAR_1000_TIME}), "
                f"{_BEFORE_YEAR_1000_TIME})")
    if col.kind == "amount":
        # The regex only where the plain cast fails: it removes nothing from a value that casts. Commas
        # are taken out only as thousands separators (1,234.50): a European 1.234,50 became 1.23 and
        # 1,2 became 12, wrong amounts stored without a word; now they are unparseable.
        return (f"coalesce(try_cast({cleaned} AS DECIMAL(14,2)), "
                rf"CASE WHEN regexp_matches({cleaned}, '^[-+]?[¥\s]*[-+]?[0-9]{{1,3}}(,[0-9]{{3}})*(\.[0-9]*)?[元¥\s]*$') "
                rf"OR NOT contains({cleaned}, ',') "
                rf"THEN try_cast(regexp_replace({cleaned}, '[,¥元\s]', '', 'g') AS DECIMAL(14,2)) END)")
    if col.kind == "phone":  # what phone_keys could not read is left as written: not a key
        return f"CASE WHEN regexp_full_match({cleaned}, {_lit(PHONE_KEY_PATTERN)}) THEN {cleaned} END"
    if col.kind == "enum":
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in _enum_spellings(table, col).items())
        return f"CASE lower({cleaned}) {cases} END"
    if col.kind == "list":
        parts = rf"list_filter(regexp_split_to_array({cleaned}, '\s*;\s*'), lambda s: s <> '')"
        # Most lists are written plainly (a;b;c): a plain split gives them what the regex split
        # and filter would, at a fifth of the cost.
        plain = rf"NOT ({cleaned} LIKE '%;;%' OR {cleaned} LIKE ';%' OR {cleaned} LIKE '%;' OR regexp_matches({cleaned}, '\s;|;\s'))"
        return f"CASE WHEN {plain} THEN string_split({cleaned}, ';') WHEN len({parts}) > 0 THEN {parts} END"
    return cleaned


def _problem(col: Column, cleaned: str, typed: str, typed_sql: str) -> tuple[str | None, str]:
    """(when the column makes the row bad, what the reason says): the condition is cheap, the
    text is built for the rows it flags alone; no condition when the column cannot be bad."""
    raw = f"left({_ident(col.name)}, 40)"
    if col.kind == "enum":
        expected = ", ".join(col.values)
        bad = f"'invalid {col.name} \"' || {raw} || '\" (expected {expected})'"
    else:
        bad = f"'unparseable {col.name} \"' || {raw} || '\"'"
    missing = f"'missing required {col.name}'" if col.required else "NULL"
    if col.required and col.kind == "enum":  # 未知 is emptied by ``_cleaned``: the reason quotes it
        missing = (f"CASE WHEN nullif({_ident(col.name)}, '') IS NULL THEN {missing} ELSE 'required {col.name} is "
                   f"\"' || {raw} || '\", which says it is unknown' END")
    reason = f"CASE WHEN {cleaned} IS NULL THEN {missing} WHEN {typed} IS NULL THEN {bad} END"
    if col.required:
        return f"{typed} IS NULL", reason
    if typed_sql == cleaned:  # any text it holds is its value
        return None, reason
    return f"({cleaned} IS NOT NULL AND {typed} IS NULL)", reason


def _id_number_valid(value: str, *, first_generation: bool) -> str:
    """Whether an ID number is well formed: 18 characters whose birth date is a date and whose check
    character is right; with ``first_generation`` (persons' records, which may be 20 years old) also
    15 digits whose YYMMDD is a date of the 1900s. Elsewhere (an intermediary's 证件号码 may be a
    15-digit business registration number) 15 digits are not a person's ID number."""
    digit_sum = id_digit_sum_sql(value)
    old = (f"WHEN regexp_full_match({value}, '[0-9]{{15}}') THEN try_strptime('19' || substr({value}, 7, 6), '%Y%m%d') "
           "IS NOT NULL " if first_generation else "")
    return (
        f"CASE WHEN {value} IS NULL THEN NULL {old}"
        f"WHEN NOT regexp_full_match({value}, '[0-9]{{17}}[0-9X]') THEN false "
        f"WHEN try_strptime(substr({value}, 7, 8), '%Y%m%d') IS NULL THEN false "
        f"ELSE substr({_lit(ID_CHECK_CHARS)}, (({digit_sum}) % 11) + 1, 1) = substr({value}, 18, 1) END"
    )


def _row_checks(table: EntityTable, typed: dict[str, str]) -> list[tuple[str, str]]:
    """(condition, reason) of the checks across columns."""
    if table.name == "settlements":
        return [(f"{typed['end_time']} < {typed['start_time']}", "'end_time before start_time'")]
    return []


def row_hash_sql(text: str) -> str:
    """``_row_hash`` of the SQL text ``text``: the low 64 bits of its MD5, as ``md5_number_lower``
    (which stored hashes were made with) gives them, at a third of its cost in DuckDB 2.0.

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {row_hash_sql('s')} = md5_number_lower(s) FROM (VALUES (''), ('a'), ('参保人')) t(s)").fetchall()
    [(True,), (True,), (True,)]
    """
    return f"CAST(md5_number({text}) >> 64 AS UBIGINT)"


MAX_VALUE_CHARS = 1_000
"""The longest value of one column (a name, an address, an id...), or element of a list, that loads.
Longer than any real value of these kinds, and within what Neo4j can index (a range index refuses
values over about 8 KB, which would fail a whole batch): such a row is rejected with its reason."""


def validation_sql(table: EntityTable, relation: str) -> str:
    """One query: typed columns, ``_row_hash``, ``_line`` and ``_reason`` ('' when the row is good).

    Built in layers (cleaned text, typed value, checks) so every expression is evaluated
    once per row however many checks and the hash read it.
    """
    cleaned_cols, typed_cols, out_cols, hash_parts = [], [], [], []
    problems: list[tuple[str | None, str]] = [
        (f"{_UNFIT} IS NOT NULL", _UNFIT)]
    typed_of: dict[str, str] = {}
    for col in table.columns:
        cleaned, typed = _ident("c:" + col.name), _ident("t:" + col.name)
        typed_of[col.name] = typed
        cleaned_cols.append(f"{_cleaned(col)} AS {cleaned}")
        typed_sql = _typed(table, col, cleaned)
        typed_cols.append(f"{typed_sql} AS {typed}")
        out_cols.append(f"{typed} AS {_ident(col.name)}")
        problems.append(_problem(col, cleaned, typed, typed_sql))
        if col.kind != "list":
            too_long = f"length({cleaned}) > {MAX_VALUE_CHARS}"
            problems.append((too_long, f"CASE WHEN {too_long} THEN '{col.name} over {MAX_VALUE_CHARS:,} characters "
                                       f"(超过 {MAX_VALUE_CHARS} 个字符)' END"))
        else:  # an element is a value too: a trace code is a node of its own, keyed and indexed
            # Elements looked at only where the whole text is that long: 9M lists, 0.21 s -> 0.04 s.
            too_long = (f"length({cleaned}) > {MAX_VALUE_CHARS} "
                        f"AND list_max(list_transform({typed}, lambda x: length(x))) > {MAX_VALUE_CHARS}")
            problems.append((too_long, f"CASE WHEN {too_long} THEN '{col.name} has an element over "
                                       f"{MAX_VALUE_CHARS:,} characters (某项超过 {MAX_VALUE_CHARS} 个字符)' END"))
        as_text = f"array_to_string({typed}, ';')" if col.kind == "list" else f"CAST({typed} AS VARCHAR)"
        hash_parts.append(f"coalesce({as_text}, '')")
        if col.kind == "id_number":
            out_cols.append(f"{_id_number_valid(typed, first_generation=table.name == 'persons')} AS {col.name}_valid")
    problems += [(check, f"CASE WHEN {check} THEN {reason} END") for check, reason in _row_checks(table, typed_of)]
    # The reasons are joined only for the rows a condition flags: on a clean batch that is none.
    bad = " OR ".join(f"coalesce({check}, false)" for check, _ in problems if check is not None)
    reasons = ", ".join(reason for _, reason in problems)
    return f"""
    WITH cleaned AS (
        SELECT *, {', '.join(cleaned_cols)} FROM {relation}
    ), typed AS (
        SELECT *, {', '.join(typed_cols)} FROM cleaned
    )
    SELECT {', '.join(out_cols)},
           {row_hash_sql(f"concat_ws(chr(31), {', '.join(hash_parts)})")} AS {ROW_HASH},
           CASE WHEN {bad} THEN concat_ws('; ', {reasons}) ELSE '' END AS {REASON},
           {LINE}
    FROM typed
    """


def _repeated_keys_sql(table: EntityTable, relation: str) -> str:
    key = _ident(table.key)
    return f"SELECT count(*) FROM (SELECT {key} FROM {relation} WHERE {REASON} = '' GROUP BY {key} HAVING count(*) > 1)"


def _ranked_sql(table: EntityTable, relation: str) -> str:
    """Status of rows sharing a key within the batch: the first stands, a same-content repeat
    is skipped, a different-content repeat is rejected."""
    key = _ident(table.key)
    return f"""
    WITH ranked AS (
        SELECT *,
               row_number() OVER w AS _rank,
               first_value({ROW_HASH}) OVER w AS _first_hash,
               first_value({LINE}) OVER w AS _first_line
        FROM {relation}
        WINDOW w AS (PARTITION BY {key}, {REASON} = '' ORDER BY {LINE})
    )
    SELECT * EXCLUDE (_rank, _first_hash, _first_line, {REASON}),
        CASE WHEN {REASON} <> '' THEN 'reject'
             WHEN _rank = 1 THEN 'ok'
             WHEN {ROW_HASH} = _first_hash THEN 'repeat'
             ELSE 'reject' END AS {STATUS},
        CASE WHEN {REASON} <> '' OR _rank = 1 OR {ROW_HASH} = _first_hash THEN {REASON}
             ELSE 'duplicate {table.key} ' || {key} || ' with other content (first at line ' || _first_line || ')'
        END AS {REASON}
    FROM ranked
    """


_NEEDS_NFKC = "[\u00a0\u2000-\u200a\u202f\u205f\u3000\uff01-\uff5e\uffe0-\uffe6]"
"""Full-width forms and odd spaces: the characters NFKC repairs in real exports."""
_INVISIBLE = r"\p{Cf}"
"""Format characters (Unicode Cf: zero-width spaces and joiners, bidi marks, the soft hyphen, BOM) pasted
in from a web page or a chat (NFKC keeps them): an id with one was another id, invisibly."""
_EXCEL_GUARD = r"^=\"(.*)\"$|^'"
"""What keeps Excel from reading 18 digits as 1.10105E+17, left in a CSV it saved: ``="…"`` or a leading '."""


def _unfit_reasons(columns: dict[str, pa.ChunkedArray], rows: int) -> pa.Array:
    """Per row, why its first column holding a character XML cannot hold is refused, else null.

    They are almost never there: a column is matched per row only when its bytes may hold one
    (``_may_hold_unfit``; a regex over every value would cost a third of validation).
    """
    found = pa.nulls(rows, pa.string())
    for name, column in columns.items():
        if not any(_may_hold_unfit(np.frombuffer(buffer, dtype=np.uint8))
                   for chunk in column.chunks for buffer in chunk.buffers()[2:3] if buffer is not None and buffer.size):
            continue
        hit = pc.fill_null(pc.match_substring_regex(column, _CONTROL_CHARS), False)
        noncharacter = pc.fill_null(pc.match_substring_regex(column, "[\ufffe\uffff]"), False)
        reason = pc.if_else(noncharacter, f"noncharacter U+FFFE or U+FFFF in {name} (XML cannot hold it; 含非法字符)",
                            f"control character in {name}")
        found = pc.if_else(pc.and_(hit, pc.is_null(found)), reason, found)
    return found


def _may_hold_unfit(data: np.ndarray) -> bool:
    """Whether UTF-8 bytes may hold a character of ``_CONTROL_CHARS``: a byte below 0x20, or the
    bytes EF BF BE / EF BF BF (U+FFFE, U+FFFF). Two passes over the bytes, next to nothing beside
    the regex; a tab or line break passes here too and the regex tells it apart.

    >>> [_may_hold_unfit(np.frombuffer(s.encode(), dtype=np.uint8)) for s in ("张三", "a\\x01", "张\\uffff", "\\ufffd")]
    [False, True, True, False]
    """
    if data.min() < 0x20:
        return True
    lead = np.flatnonzero(data[:-2] == 0xEF)
    return bool(np.any((data[lead + 1] == 0xBF) & (data[lead + 2] >= 0xBE)))


def _normalise(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """NFKC where full-width forms occur (digits, letters, spaces, semicolons become ASCII), then trim.

    Done in Arrow rather than SQL, and only where needed: NFKC of a column of Chinese drug
    names costs more than all of validation's SQL, and after NFKC every white space left
    at the ends is ASCII, which the fast ASCII trim removes safely from UTF-8.
    """
    if pc.all(pc.string_is_ascii(column)).as_py() is False:
        if pc.any(pc.match_substring_regex(column, _NEEDS_NFKC)).as_py():
            column = pc.utf8_normalize(column, "NFKC")
        if pc.any(pc.match_substring_regex(column, _INVISIBLE)).as_py():
            column = pc.replace_substring_regex(column, _INVISIBLE, "")
    column = pc.ascii_trim_whitespace(column)
    if pc.any(pc.or_(pc.starts_with(column, "="), pc.starts_with(column, "'"))).as_py():
        # ="P001  ": a padded field inside the guard is trimmed too
        column = pc.ascii_trim_whitespace(pc.replace_substring_regex(column, _EXCEL_GUARD, r"\1"))
    return column


class BatchValidator:
    """Validates batches of one entity table with one query, on a cursor of ``database``.

    ``database``: an in-memory DuckDB that the ingest run opens once for all its files (a cursor
    costs microseconds; opening a DuckDB costs about 28 ms, as much as validating a small file).
    """

    def __init__(self, table: EntityTable, database: duckdb.DuckDBPyConnection) -> None:
        self.table = table
        self._con = database.cursor()
        self._sql = validation_sql(table, "batch")
        self._repeated_sql = _repeated_keys_sql(table, "checked")
        self._ranked_sql = _ranked_sql(table, "checked")
        self.address_seconds = 0.0
        """Wall seconds spent resolving addresses (``address_keys``) so far."""

    def validate(self, raw: pa.Table, lines: pa.Array) -> pa.Table:
        """``raw`` has the table's canonical columns as strings (absent ones all null)."""
        columns = {name: _normalise(raw.column(name)) for name in self.table.column_names}
        unfit = _unfit_reasons(columns, raw.num_rows)
        for col in self.table.columns:
            if col.kind == "phone":
                columns[col.name] = phone_keys(columns[col.name])
        normalised = pa.table(columns | {LINE: lines, _UNFIT: unfit})
        self._con.register("batch", normalised)
        try:
            checked = self._resolved(self._con.sql(self._sql).to_arrow_table())
        finally:
            self._con.unregister("batch")
        self._con.register("checked", checked)
        try:
            # Repeated keys are rare; rank only when there are some.
            if self._con.execute(self._repeated_sql).fetchall()[0][0]:
                return self._con.sql(self._ranked_sql).to_arrow_table()
        finally:
            self._con.unregister("checked")
        good = pc.equal(checked.column(REASON), "")
        return checked.append_column(STATUS, pc.if_else(good, "ok", "reject"))

    def _resolved(self, checked: pa.Table) -> pa.Table:
        """Derived keys: ``address_key`` of each address, ``person_key`` (the row's own id for now)."""
        derived = dict(self.table.derived)
        if "address_key" in derived:
            started = time.perf_counter()
            checked = checked.append_column("address_key", address_keys(checked.column("address")))
            self.address_seconds += time.perf_counter() - started
        if "person_key" in derived:
            checked = checked.append_column("person_key", checked.column(self.table.key))
        return checked

    def close(self) -> None:
        self._con.close()
