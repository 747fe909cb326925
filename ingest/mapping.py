"""Read a foreign export through a mapping file: its files and columns onto the contract's.

An agency's export seldom has the contract's shape: one file per table but other names, other
headers, gender as 1/2, dates as ``03/05/2026``, a column that has to be a constant, a value
that lives in another file. A mapping (YAML, ``graphsvc ingest --mapping FILE.yaml FOLDER``)
says, per contract table, which file(s) hold it and how each contract column is made from the
file's columns. It is applied to each batch as it is read, before the normal validation: the
result is a batch of contract columns with the source file's line numbers, so a bad row is
rejected by the usual rules and its reject names the source file and line.

The format (docs/mappings/kaggle-provider-fraud.yaml is a worked example)::

    tables:
      persons:
        file: beneficiaries*.csv.zip   # a glob in FOLDER; a .zip is read through its one data member
        empty: ["NA"]                  # values that mean "missing" in this file (optional)
        columns:
          person_id: BeneID                                  # a source column, as is
          gender: {column: Gender, values: {"1": M, "2": F}} # a value map; a value not in it rejects the row
          birth_date: {column: DOB, format: "%d/%m/%Y"}      # a date or time in another format
          insurance_type: {value: resident}                  # a constant
          region_code: {columns: [State, County], sep: "-"}  # non-empty values joined
          phone: {lookup: {file: "phones*.csv", key: BeneID, column: Phone}, by: BeneID}
                                                             # a column joined from another file

A mapping file that cannot be used (not YAML, not a mapping, an unknown table or column, a
source column the file lacks, a value map that is not a mapping, a key given twice) raises
``MappingError`` naming the mapping file and the key, before anything is loaded.

A format with ``%z`` (``2026-03-05 21:14:00+0800``) keeps the wall time as written (21:14) and
drops the offset: the contract's times are local, and converting to UTC would move a night
admission to the day.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "m.yaml").write_text("tables: {persons: {file: p.csv, columns: {person_id: {value: 1}, sex: G}}}")
>>> try:
...     SourceMapping.load(folder / "m.yaml")
... except MappingError as exc:
...     print(str(exc)[:63])
m.yaml: tables.persons.columns.sex: persons has no column 'sex'

"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import zipfile
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from graphsvc.errors import InputError
from graphsvc.model import ENTITY_TABLES, LOAD_ORDER
from ingest.readers import SUFFIXES, Malformed, RawBatch, SourceFile, open_source

__all__ = ["MappingError", "SourceMapping", "ColumnRule", "TableRule"]

_MAX_ZIP_RATIO = 200
"""Most a zip member may unpack to per byte packed, as for uploads (``Settings.upload_max_ratio``):
real CSV packs some 4 to 20 times; far beyond is a decompression bomb."""
_RULE_KEYS = {"column", "values", "format", "value", "columns", "sep", "lookup", "by"}
"""``by``, not ``on``, names a lookup's key column: YAML 1.1 (PyYAML) reads a bare ``on`` as true."""


class MappingError(InputError):
    """The mapping file cannot be used; the message names the file and the key."""

    summary_zh = "映射文件无法使用：文件、键和原因见后面的英文说明"


class _RepeatedKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: ``safe_load`` keeps
    the last one without a word, and a mapping would silently use half of what its file says (a
    column mapped twice, a table listed twice). Merge keys (``<<``) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):  # an unhashable key the parent refuses with its own message
                if key in seen:
                    raise _RepeatedKey(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class ColumnRule:
    """How one contract column is made from a source row; ``where`` is its key in the mapping file."""

    where: str
    column: str | None = None
    values: Mapping[str, str] | None = None
    format: str | None = None
    value: str | None = None
    columns: tuple[str, ...] = ()
    sep: str = ";"
    lookup: Mapping[str, str] | None = None
    by: str | None = None

    def sources(self) -> list[str]:
        """The source columns this rule reads from the table's own file."""
        own = [self.column] if self.column else []
        return own + list(self.columns) + ([self.by] if self.by else [])


@dataclass(frozen=True)
class TableRule:
    table: str
    file: str
    empty: tuple[str, ...]
    columns: Mapping[str, ColumnRule]
    where: str


@dataclass
class SourceMapping:
    """A loaded mapping file: what ``ingest_folder`` reads instead of discovering contract files."""

    path: Path
    tables: list[TableRule]
    _scratch: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _lookups: dict[str, tuple[dict[str, str], list[str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path) -> SourceMapping:
        name = path.name
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
        except OSError as exc:
            raise MappingError(f"cannot read mapping {path}: {exc.strerror or exc}") from None
        except _RepeatedKey as exc:
            raise MappingError(f"{name}: line {exc.line}: key {exc.key!r} is given twice in one mapping; give each "
                               "key once (YAML would keep only the last)") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise MappingError(f"{name}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(document, dict) or not isinstance(document.get("tables"), dict) or not document["tables"]:
            raise MappingError(f"{name}: a mapping file is a YAML mapping with a 'tables' mapping of contract tables "
                               "(persons, settlements ...) to their file and columns")
        unknown = set(document) - {"tables"}
        if unknown:
            raise MappingError(f"{name}: {sorted(unknown)[0]}: unknown key (a mapping file holds 'tables')")
        tables = [_table_rule(name, table, spec) for table, spec in document["tables"].items()]
        return cls(path, sorted(tables, key=lambda t: LOAD_ORDER.index(t.table)))

    # ---- what the pipeline calls -----------------------------------------------------------

    def discover(self, folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
        """(table, file) in load order, as ``ingest.pipeline.discover``; and the folder's other files.

        Every file's headers are checked against the rules first, so a mapping that names a
        column the export lacks stops the run before anything is loaded."""
        if not folder.is_dir():
            raise MappingError(f"{folder} is not a folder; pass the folder holding the export's files")
        files: list[tuple[str, Path]] = []
        for rule in self.tables:
            matched = self._matches(folder, rule.file, f"{rule.where}.file")
            for path in matched:
                self._check_headers(rule, path)
                files.append((rule.table, path))
        used = {p.name for _, p in files} | {p.name for p in self._lookup_files(folder)}
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in used
                        and not p.name.startswith(".") and p != self.path)
        return files, others

    def open(self, table: str, path: Path) -> SourceFile:
        """``path`` read as contract table ``table``'s columns, with the source file's line numbers."""
        rule = next(r for r in self.tables if r.table == table)
        source = self._open_raw(path)
        folder = path.parent
        looked_up = {target: self._lookup(folder, c) for target, c in rule.columns.items() if c.lookup}
        lookups = {target: found for target, (found, _) in looked_up.items()}
        unread = list(dict.fromkeys(line for _, lines in looked_up.values() for line in lines))
        note = source.note
        if unread:
            note = "; ".join(filter(None, [note, (
                f"{len(unread)} row(s) of its lookup file(s) could not be read and were not used (查找表行无法读取): "
                + "; ".join(unread[:5]) + ("; ..." if len(unread) > 5 else "") + ": fix them and ingest again")]))
        read = source.batches
        return replace(source, headers=list(rule.columns), note=note,
                       batches=lambda advance: (self._mapped(rule, b, lookups) for b in read(advance)))

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    # ---- reading ---------------------------------------------------------------------------

    def _matches(self, folder: Path, pattern: str, where: str) -> list[Path]:
        """The data files (by suffix) of ``folder`` matching ``pattern``: a note or a checksum the
        supplier put beside the export is not read (and is listed as such), whatever the glob says."""
        matched = sorted(p for p in folder.iterdir() if _data_file(p) and fnmatch.fnmatch(p.name, pattern))
        if not matched:
            raise MappingError(f"{self.path.name}: {where}: no data file ({', '.join(SUFFIXES)}, .zip) in {folder} "
                               f"matches {pattern!r}")
        return matched

    def _open_raw(self, path: Path) -> SourceFile:
        if path.suffix.lower() != ".zip":
            return open_source(path)
        return replace(open_source(self._unzipped(path)), path=path)

    def _unzipped(self, path: Path) -> Path:
        """The data member of zip ``path``, unpacked once into a scratch folder (the readers need a file)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="graphsvc-mapping-")
        target = Path(self._scratch.name) / path.name
        if target.exists():
            return next(target.iterdir())
        try:
            with zipfile.ZipFile(path) as archive:
                members = [i for i in archive.infolist()
                           if not i.is_dir() and Path(i.filename).suffix.lower() in SUFFIXES]
                if len(members) != 1:
                    raise MappingError(f"{self.path.name}: {path.name} holds {len(members)} data files "
                                       f"({', '.join(SUFFIXES)}); a mapped zip must hold exactly one")
                member = members[0]
                if member.file_size > _MAX_ZIP_RATIO * max(member.compress_size, 1) + (1 << 20):
                    raise MappingError(f"{path.name}: {member.filename} unpacks to {member.file_size:,} bytes, over "
                                       f"{_MAX_ZIP_RATIO} times its packed size: not read")
                target.mkdir()
                unpacked = target / Path(member.filename).name
                with archive.open(member) as src, unpacked.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, OSError) as exc:
            raise MappingError(f"{path.name}: not a readable zip ({exc})") from None
        return unpacked

    def _check_headers(self, rule: TableRule, path: Path) -> None:
        try:
            headers = self._open_raw(path).headers
        except Exception:  # noqa: BLE001 -- a damaged file: ingest says so when it opens it, and loads the others
            return
        for column in rule.columns.values():
            for source in column.sources():
                if source not in headers:
                    raise MappingError(f"{self.path.name}: {column.where}: {path.name} has no column {source!r} "
                                       f"(its columns: {', '.join(headers[:40])})")

    def _lookup_files(self, folder: Path) -> list[Path]:
        patterns = [c.lookup["file"] for r in self.tables for c in r.columns.values() if c.lookup]
        return [p for p in folder.iterdir() if _data_file(p) and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]

    def _lookup(self, folder: Path, rule: ColumnRule) -> tuple[dict[str, str], list[str]]:
        """(key -> value of the lookup file, the first row of a repeated key winning; where and why each
        row that could not be read was left out). A row with an empty key is no one's: an empty cell
        is a missing value, and matching it would give every row without one the same value."""
        assert rule.lookup is not None
        spec = rule.lookup
        cache_key = f"{spec['file']}\x1f{spec['key']}\x1f{spec['column']}"
        if cache_key in self._lookups:
            return self._lookups[cache_key]
        found: dict[str, str] = {}
        unread: list[str] = []
        for path in self._matches(folder, spec["file"], f"{rule.where}.lookup.file"):
            try:
                source = self._open_raw(path)
                for name in (spec["key"], spec["column"]):
                    if name not in source.headers:
                        raise MappingError(f"{self.path.name}: {rule.where}.lookup: {path.name} has no column "
                                           f"{name!r} (its columns: {', '.join(source.headers[:40])})")
                for batch in source.batches(lambda _n: None):
                    unread += [f"{path.name} line {bad.line}: {bad.reason}" for bad in batch.malformed]
                    for key, value in zip(batch.table.column(spec["key"]).to_pylist(),
                                          batch.table.column(spec["column"]).to_pylist()):
                        if key is not None and key.strip():
                            found.setdefault(key, value)
            except MappingError:
                raise
            except Exception as exc:  # noqa: BLE001 -- a damaged lookup file: its table's file is not loaded without it
                raise MappingError(f"{self.path.name}: {rule.where}.lookup: {path.name} could not be read ({exc})"
                                   ) from None
        self._lookups[cache_key] = (found, unread)
        return found, unread

    # ---- applying the rules ------------------------------------------------------------------

    def _mapped(self, rule: TableRule, batch: RawBatch, lookups: Mapping[str, dict[str, str]]) -> RawBatch:
        raw = batch.table
        if rule.empty:
            raw = pa.table({name: pc.if_else(pc.is_in(col, value_set=pa.array(rule.empty, pa.string())), "", col)
                            for name, col in zip(raw.column_names, raw.columns)})
        n = raw.num_rows
        problems: list[pa.Array] = []
        out: dict[str, pa.Array] = {}
        for target, column in rule.columns.items():
            value, problem = _apply(column, raw, n, lookups.get(target), self.path.name)
            out[target] = value
            if problem is not None:
                problems.append(problem)
        table = pa.table(out) if out else pa.table({})
        if not problems:
            return RawBatch(table, batch.lines, batch.malformed)
        reason = problems[0]
        for more in problems[1:]:
            reason = pc.coalesce(reason, more)
        bad = pc.is_valid(reason)
        refused = [Malformed(line, why, ",".join(row.values()))
                   for line, why, row in zip(batch.lines.filter(bad).to_pylist(), reason.filter(bad).to_pylist(),
                                             raw.filter(bad).to_pylist())]
        keep = pc.invert(bad)
        return RawBatch(table.filter(keep), batch.lines.filter(keep), batch.malformed + refused)


def _data_file(path: Path) -> bool:
    """Whether ``path`` is a file a mapping may read: by its suffix, a data file or a zip of one."""
    return path.is_file() and path.suffix.lower() in (*SUFFIXES, ".zip")


def _apply(rule: ColumnRule, raw: pa.Table, n: int, lookup: dict[str, str] | None,
           mapping_name: str) -> tuple[pa.Array, pa.Array | None]:
    """(the contract column's text, per row the reason it cannot be mapped or null)."""
    if rule.value is not None:
        return pa.array([rule.value] * n, pa.string()), None
    if rule.columns:
        parts = [pc.if_else(pc.equal(_text(raw, c), ""), pa.scalar(None, pa.string()), _text(raw, c))
                 for c in rule.columns]
        joined = pc.binary_join_element_wise(*parts, rule.sep, null_handling="skip")
        return pc.fill_null(joined, ""), None
    if rule.lookup is not None and lookup is not None and rule.by is not None:
        keys = pa.array(list(lookup), pa.string())
        values = pa.array(list(lookup.values()), pa.string())
        return pc.fill_null(pc.take(values, pc.index_in(_text(raw, rule.by), value_set=keys)), ""), None
    assert rule.column is not None
    text = _text(raw, rule.column)
    if rule.values is not None:
        keys = pa.array(list(rule.values), pa.string())
        mapped = pc.take(pa.array(list(rule.values.values()), pa.string()), pc.index_in(text, value_set=keys))
        missed = pc.and_(pc.is_null(mapped), pc.not_equal(text, ""))
        why = pc.binary_join_element_wise(
            f"{rule.column} value '", text, f"' is not in the value map ({mapping_name}: {rule.where}.values)", "")
        return pc.fill_null(mapped, ""), pc.if_else(missed, why, pa.scalar(None, pa.string()))
    if rule.format is not None:
        if "%z" in rule.format:
            # Arrow converts an offset to UTC; Python's strptime keeps it apart, so the wall time stays.
            iso = pa.array([_wall_time(v, rule.format) for v in text.to_pylist()], pa.string())
        else:
            iso = pc.strftime(pc.strptime(text, format=rule.format, unit="s", error_is_null=True),
                              format="%Y-%m-%d %H:%M:%S")
        # A value the format does not fit stays as written: validation tries its own formats and
        # rejects it with the file and line when none fits.
        return pc.if_else(pc.is_valid(iso), iso, text), None
    return text, None


def _wall_time(value: str | None, fmt: str) -> str | None:
    """``value`` parsed by ``fmt`` (which has ``%z``), the time as written without its offset; None
    where it does not fit.

    >>> _wall_time("2026-03-05 21:14:00+0800", "%Y-%m-%d %H:%M:%S%z"), _wall_time("21:14", "%Y%z")
    ('2026-03-05 21:14:00', None)
    """
    try:
        return datetime.strptime(value or "", fmt).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _text(raw: pa.Table, name: str) -> pa.Array:
    column = raw.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


# ---- parsing the mapping file -------------------------------------------------------------


def _table_rule(name: str, table: object, spec: object) -> TableRule:
    where = f"tables.{table}"
    if table not in ENTITY_TABLES:
        raise MappingError(f"{name}: {where}: unknown table (the contract's: {', '.join(LOAD_ORDER)})")
    if not isinstance(spec, dict):
        raise MappingError(f"{name}: {where}: expected a mapping with 'file' and 'columns'")
    unknown = set(spec) - {"file", "empty", "columns"}
    if unknown:
        raise MappingError(f"{name}: {where}.{sorted(map(str, unknown))[0]}: unknown key (use file, empty, columns)")
    file = spec.get("file")
    if not isinstance(file, str) or not file.strip() or "/" in file or "\\" in file:
        raise MappingError(f"{name}: {where}.file: expected a file name or glob in the folder, e.g. 'claims*.csv'")
    empty = spec.get("empty", [])
    if not isinstance(empty, list) or not all(isinstance(e, (str, int, float)) for e in empty):
        raise MappingError(f"{name}: {where}.empty: expected a list of values, e.g. [\"NA\", \"-\"]")
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError(f"{name}: {where}.columns: expected a mapping of contract columns to source columns")
    known = ENTITY_TABLES[str(table)].column_names
    rules: dict[str, ColumnRule] = {}
    for target, rule in columns.items():
        key = f"{where}.columns.{target}"
        if target not in known:
            raise MappingError(f"{name}: {key}: {table} has no column {target!r} (its columns: {', '.join(known)})")
        rules[str(target)] = _column_rule(name, key, rule)
    return TableRule(str(table), file, tuple(str(e) for e in empty), rules, where)


def _column_rule(name: str, key: str, rule: object) -> ColumnRule:
    if isinstance(rule, str) and rule:
        return ColumnRule(key, column=rule)
    if not isinstance(rule, dict):
        raise MappingError(f"{name}: {key}: expected a source column name or a mapping "
                           "({column, values|format} | {value} | {columns, sep} | {lookup, by})")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise MappingError(f"{name}: {key}.{sorted(map(str, unknown))[0]}: unknown key "
                           f"(use {', '.join(sorted(_RULE_KEYS))})")
    kinds = [k for k in ("column", "value", "columns", "lookup") if k in rule]
    if len(kinds) != 1:
        raise MappingError(f"{name}: {key}: give exactly one of column, value, columns, lookup")
    kind = kinds[0]
    extras = {"column": {"values", "format"}, "value": set(), "columns": {"sep"}, "lookup": {"by"}}[kind]
    stray = set(rule) - {kind} - extras
    if stray:
        raise MappingError(f"{name}: {key}.{sorted(stray)[0]}: does not go with {kind!r}")
    if kind == "value":
        if not isinstance(rule["value"], (str, int, float)):
            raise MappingError(f"{name}: {key}.value: expected a text or number constant")
        return ColumnRule(key, value=str(rule["value"]))
    if kind == "columns":
        cols = rule["columns"]
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
            raise MappingError(f"{name}: {key}.columns: expected a list of source column names")
        sep = rule.get("sep", ";")
        if not isinstance(sep, str):
            raise MappingError(f"{name}: {key}.sep: expected text")
        return ColumnRule(key, columns=tuple(cols), sep=sep)
    if kind == "lookup":
        spec = rule["lookup"]
        if not isinstance(spec, dict) or set(spec) != {"file", "key", "column"} or not all(
                isinstance(v, str) and v for v in spec.values()):
            raise MappingError(f"{name}: {key}.lookup: expected {{file: GLOB, key: COLUMN, column: COLUMN}}")
        if not isinstance(rule.get("by"), str) or not rule["by"]:
            raise MappingError(f"{name}: {key}.by: expected the source column holding the lookup key")
        return ColumnRule(key, lookup=dict(spec), by=rule["by"])
    column = rule["column"]
    if not isinstance(column, str) or not column:
        raise MappingError(f"{name}: {key}.column: expected a source column name")
    values = rule.get("values")
    if values is not None:
        if not isinstance(values, dict) or not values or not all(
                isinstance(v, (str, int, float)) and isinstance(k, (str, int, float)) for k, v in values.items()):
            raise MappingError(f"{name}: {key}.values: expected a mapping of source values to contract values, "
                               "e.g. {\"1\": M, \"2\": F}")
        texts = [_yaml_text(k) for k in values]
        repeated = next((t for t in texts if texts.count(t) > 1), None)
        if repeated is not None:  # '1' and 1 are different YAML keys but one cell text
            raise MappingError(f"{name}: {key}.values: source value {repeated!r} is mapped twice (quoted and not, "
                               "or as 1 and 1.0); map each value once")
        values = dict(zip(texts, (_yaml_text(v) for v in values.values())))
    fmt = rule.get("format")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        raise MappingError(f"{name}: {key}.format: expected a strptime format, e.g. \"%d/%m/%Y\"")
    if values is not None and fmt is not None:
        raise MappingError(f"{name}: {key}: give values or format, not both")
    return ColumnRule(key, column=column, values=values, format=fmt)


def _yaml_text(value: Any) -> str:
    """A YAML scalar as the text a CSV cell holds: 1 (YAML reads a number) is "1", not "1.0"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

