"""The compute engine: where SQL over the model's tables runs, whichever backend stores them.

Detection, person keys and the network are SQL; the stores hand the engine Arrow tables (or,
the embedded store, its own database) and get Arrow back. DuckDB is the engine of the stores.

Detection reads the model's tables through a ``Session``: DuckDB's (``DuckDBSession``, over a
store's analysis connection) or Apache Spark's (``SparkSQLSession``, over Parquet: a fund's lake,
or a store's tables exported), for a province that outgrows one machine. Every statement is
written once, in DuckDB's dialect; a Spark session transpiles it with sqlglot (``spark_sql``), as
splink does for its backends, so each detector has one source of truth.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.time import format_time

from graphsvc.errors import InputError
from graphsvc.model import ENTITY_TABLES
from graphsvc.store.schema import DUCKDB_TYPES, ROW_HASH, create_sql

if TYPE_CHECKING:
    import pyspark.sql

__all__ = ["ComputeEngine", "Connection", "DuckDBEngine", "DUCKDB", "Session", "SessionLike", "DuckDBSession",
           "SparkSQLSession", "session_of", "spark_sql", "local_spark",
           "check_parquet_location", "check_spark_master"]

Connection = duckdb.DuckDBPyConnection
"""A session of the engine holding the model's tables by name: what the detectors query."""


class ComputeEngine(ABC):
    @abstractmethod
    def query(self, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
        """One query over Arrow ``tables``, each read by its name; the answer as Arrow."""

    @abstractmethod
    def load(self, tables: Mapping[str, pa.Table | pa.RecordBatchReader]) -> Connection:
        """A new session holding every entity table of the model (typed as the schema says),
        filled with the rows of ``tables`` (their stored columns; a table left out is empty). A
        reader is consumed a batch at a time, so a store can stream a table larger than memory
        would hold as Python objects."""


class DuckDBEngine(ComputeEngine):
    """In-memory DuckDB sessions, two threads each (the API serves reads meanwhile)."""

    def _session(self) -> Connection:
        return duckdb.connect(config={"threads": 2})

    def query(self, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
        con = self._session()
        try:
            for name, table in tables.items():
                con.register(name, table)
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()

    def load(self, tables: Mapping[str, pa.Table | pa.RecordBatchReader]) -> Connection:
        con = self._session()
        try:
            for table in ENTITY_TABLES.values():
                con.execute(create_sql(table))
                rows = tables.get(table.name)
                for batch in [rows] if isinstance(rows, pa.Table) else rows or ():
                    con.register("_rows", batch)
                    con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM _rows")
                    con.unregister("_rows")
        except BaseException:  # a stream that failed half-way (its server gone): no half-filled session left open
            con.close()
            raise
        return con


DUCKDB = DuckDBEngine()


Params = Sequence[Any]
"""Positional parameters of a statement, bound by the engine (``?`` in the SQL), never pasted into it."""


class Session(ABC):
    """The model's entity tables by name, on some engine: what detection and entity resolution query.

    Statements are DuckDB SQL. Temp tables and views live as long as the session.
    """

    @abstractmethod
    def stored(self, table: str) -> str:
        """How SQL names entity table ``table`` as stored, past any view that shadows its name."""

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (``CREATE OR REPLACE TEMP VIEW ...``)."""

    @abstractmethod
    def create_table(self, name: str, query: str, params: Params = ()) -> None:
        """(Re)create temp table ``name`` holding the rows of ``query``, computed once for every later read."""

    @abstractmethod
    def temp_table(self, name: str, columns: Mapping[str, Sequence[str | None]]) -> None:
        """(Re)create temp table ``name`` from Python lists of strings, one per column."""

    @abstractmethod
    def rows(self, query: str, params: Params = ()) -> list[dict[str, Any]]:
        """The rows of ``query`` as dicts (detectors' answers are small)."""

    @abstractmethod
    def columns(self, relation: str) -> list[str]:
        """The column names of a table or view."""

    def one(self, query: str, params: Params = ()) -> tuple[Any, ...]:
        """The values of the first row of ``query`` (an aggregate's one row)."""
        return tuple(self.rows(query, params)[0].values())

    @abstractmethod
    def close(self) -> None:
        """Let go of the session's tables."""


class DuckDBSession(Session):
    """A DuckDB connection holding the model's tables: a store's analysis connection, or test tables."""

    def __init__(self, con: Connection) -> None:
        self.con = con

    def stored(self, table: str) -> str:
        catalog = self.con.execute("SELECT current_database()").fetchall()[0][0]
        return f"{_quoted(catalog)}.main.{_quoted(table)}"

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def create_table(self, name: str, query: str, params: Params = ()) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}", list(params))

    def temp_table(self, name: str, columns: Mapping[str, Sequence[str | None]]) -> None:
        # Through Arrow rather than row inserts: a candidate set can be tens of thousands of ids.
        data = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
        self.con.register("_temp_rows", data)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _temp_rows")
        finally:
            self.con.unregister("_temp_rows")

    def rows(self, query: str, params: Params = ()) -> list[dict[str, Any]]:
        result = self.con.execute(query, list(params))
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]

    def columns(self, relation: str) -> list[str]:
        return [row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]

    def close(self) -> None:
        self.con.close()


SessionLike = Session | Connection
"""What detection accepts: a session, or a DuckDB connection (a store's, ``in_memory_claims``) it wraps."""


def session_of(con: SessionLike) -> Session:
    """``con`` as a session: a DuckDB connection is wrapped, a session is itself."""
    return con if isinstance(con, Session) else DuckDBSession(con)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---- Spark ------------------------------------------------------------------------------------

_JAVA_DATE_FORMAT = functools.partial(format_time, mapping=Spark.INVERSE_TIME_MAPPING, trie=Spark.INVERSE_TIME_TRIE)


def _spark_forms(node: exp.Expression) -> exp.Expression:
    """DuckDB functions whose sqlglot rendering Spark does not run, as Spark's equivalents."""
    if isinstance(node, exp.RegexpFullMatch) and isinstance(node.expression, exp.Literal):
        # RLIKE finds the pattern anywhere; anchored, it must match the whole string, as regexp_full_match does.
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{node.expression.this})$"))
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])  # both interpolate linearly
    if (isinstance(node, exp.Anonymous) and str(node.this).lower() == "try_strptime"
            and isinstance(node.expressions[1], exp.Literal)):
        java = _JAVA_DATE_FORMAT(node.expressions[1].this)
        return exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[node.expressions[0], exp.Literal.string(java)])
    return node


@functools.lru_cache(maxsize=1024)
def spark_sql(sql: str) -> str:
    """A DuckDB statement as Spark SQL: sqlglot's transpilation, and ``_spark_forms`` where it falls short.

    >>> spark_sql("SELECT s.* FROM settlements s SEMI JOIN d_ids USING (settlement_id) WHERE list_contains(?, kind)")
    'SELECT s.* FROM settlements AS s SEMI JOIN d_ids USING (settlement_id) WHERE ARRAY_CONTAINS(?, kind)'
    >>> spark_sql("SELECT regexp_full_match(k, '[0-9]+'), quantile_cont(m, 0.05) FROM t")
    "SELECT k RLIKE '^(?:[0-9]+)$', PERCENTILE(m, 0.05) FROM t"
    """
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_spark_forms)
    return tree.sql(dialect="spark")


def local_spark(master: str = "local[2]") -> pyspark.sql.SparkSession:
    """A Spark session for detection: ``master`` is ``local[N]`` (this machine) or a cluster's URL
    (``spark://host:7077``). Its web UI is off and shuffles are small, as a detection run's candidate
    sets are; a cluster's own settings (executors, memory) come from ``spark-defaults.conf``."""
    from pyspark.sql import SparkSession as PySparkSession

    spark = (PySparkSession.builder.master(master).appName("graphsvc-detect")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    # PySpark logs every failed query's Java stack trace (with this machine's paths) to stderr itself;
    # graphsvc turns the errors into one line of what to fix, and logs the rest through its own logging.
    from pyspark.logger import PySparkLogger

    PySparkLogger.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    return spark


_LOCAL_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,\s*[1-9][0-9]*)?\])?")


def check_spark_master(master: str) -> None:
    """Raise ``InputError`` for a master Spark cannot use, before a session starts: an unparsable one
    ended in Spark's stack trace, and a standalone master nobody answers for in about a minute of
    retries. A ``spark://`` master (several, comma-separated, for standby masters) must take a
    connection on its port.

    >>> for master in ("local", "local[*]", "local[2]", "local[2, 3]", "yarn", "k8s://https://k8s:6443"):
    ...     check_spark_master(master)
    >>> check_spark_master("local[0]")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphsvc.errors.InputError: --spark-master 'local[0]' is not a Spark master: local, local[N], ...
    """
    if _LOCAL_MASTER.fullmatch(master) or master == "yarn" or master.startswith(("k8s://", "mesos://")):
        return
    if master.startswith("spark://") and master[len("spark://"):]:
        for address in master[len("spark://"):].split(","):
            host, _, port = address.strip().rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=5).close()
                return
            except (OSError, ValueError):
                continue
        raise InputError(f"--spark-master {master}: no Spark master answers there: check the address and that the "
                         "cluster is up", zh=f"--spark-master {master}：Spark 主节点无法连接，请检查地址及集群是否运行")
    raise InputError(f"--spark-master {master!r} is not a Spark master: local, local[N], local[*], "
                     "spark://HOST:PORT, yarn or k8s://URL",
                     zh=f"--spark-master {master!r} 不是 Spark 主节点：可用 local、local[N]、local[*]、"
                        "spark://主机:端口、yarn 或 k8s://网址")


def check_parquet_location(location: str) -> None:
    """Raise ``InputError`` when ``location``, a local folder, lacks one of the model's tables (a URI is
    checked by Spark as it reads): before a Spark session starts, so a typo costs no start-up."""
    if not location.strip():  # Path("") is the working folder: an empty --input must not read it
        raise InputError("the Parquet location is empty: give a folder or an hdfs:// or s3a:// URI",
                         zh="未给出 Parquet 位置：请给出文件夹，或 hdfs://、s3a:// 网址")
    if "://" in location:
        return
    folder = Path(location)
    if not folder.is_dir():
        raise InputError(f"{location} is not a folder of Parquet tables", zh=f"{location} 不是 Parquet 表的文件夹")
    missing = [t for t in ENTITY_TABLES if not (folder / t).exists() and not (folder / f"{t}.parquet").exists()]
    if missing:
        raise InputError(f"{location} has no Parquet table(s) {', '.join(missing)}: each table is a folder or a "
                         ".parquet file named as the table, e.g. persons/ or persons.parquet",
                         zh=f"{location} 缺少 Parquet 表 {'、'.join(missing)}：每张表是以表名命名的文件夹或 .parquet "
                            "文件，如 persons/ 或 persons.parquet")
    for table in ENTITY_TABLES:
        if (folder / table).is_dir():
            _check_parquet_files(folder / table)


def _check_parquet_files(folder: Path) -> None:
    """Raise ``InputError`` naming a file of a table's folder that is not Parquet (an ETL's README.txt):
    Spark reads every file there but those named ``_*`` or ``.*`` as a part of the table, and fails on
    it mid-query. Parts are told by their magic bytes, not their names: Hive writes parts named
    ``000000_0``."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(("_", ".")) for part in path.relative_to(folder).parts):
            continue
        with path.open("rb") as f:
            head = f.read(4)
            f.seek(max(path.stat().st_size - 4, 0))
            tail = f.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            raise InputError(f"{path} is not a Parquet file: Spark would read it as a part of table {folder.name}; "
                             "move it out of the table's folder",
                             zh=f"{path} 不是 Parquet 文件：Spark 会把它当作表 {folder.name} 的一部分读入，"
                                "请将其移出该表的文件夹")


def _literal_glob(path: str) -> str:
    """A local path as a Hadoop glob that matches only itself.

    >>> _literal_glob("/data/lake[1]/{x}*?")
    'file:///data/lake\\\\[1\\\\]/\\\\{x\\\\}\\\\*\\\\?'
    """
    escaped = "".join("\\" + ch if ch in "\\[]{}*?" else ch for ch in path)
    return "file://" + escaped


def keeps_lineage(master: str) -> bool:
    """Whether detection's tables on Spark ``master`` are cached (keeping their lineage) rather than
    checkpointed locally. On a cluster a lost executor takes its blocks with it: a cached table is
    recomputed from its lineage and the run goes on, a local checkpoint has none and the run fails.
    On ``local[N]`` the executors are the driver's own process, lost only with the whole run.

    >>> keeps_lineage("local[2]"), keeps_lineage("local[*]"), keeps_lineage("spark://master:7077")
    (False, False, True)
    """
    return not master.startswith("local")


class SparkSQLSession(Session):
    """The model's tables on Apache Spark, read from Parquet: one folder or file per table, named as the
    table (``persons/``, ``persons.parquet``) under a local folder or an ``hdfs://`` / ``s3a://`` URI.

    The stored tables are the temp views ``stored_<table>`` and, until resolution shadows them, ``<table>``;
    temp tables are temp views over rows computed once (see ``_keep``).
    """

    def __init__(self, spark: pyspark.sql.SparkSession, location: str) -> None:
        check_parquet_location(location)
        self.spark = spark
        self._kept: dict[str, Any] = {}
        self._lineage = keeps_lineage(spark.sparkContext.master or "local")
        for table in ENTITY_TABLES.values():
            frame = self._read(location, table.name)
            missing = sorted({c.name for c in table.columns} - set(frame.columns))
            if missing:
                raise InputError(f"{location}: table {table.name} has no column(s) {', '.join(missing)}",
                                 zh=f"{location}：表 {table.name} 缺少列 {'、'.join(missing)}")
            frame.createOrReplaceTempView(f"parquet_{table.name}")
            # The contract's types, whatever types the lake wrote (a date written as text is a date here);
            # derived columns (address_key, id_number_valid) as they are. A lake is not validated by
            # ingest: a value that is not of its column's type is refused before detection, by name.
            self._check_types(location, table)
            typed = ", ".join(f"CAST({_quoted(c.name)} AS {DUCKDB_TYPES[c.kind]}) AS {_quoted(c.name)}"
                              for c in table.columns)
            model = {c.name for c in table.columns}
            keep = "".join(f", {_quoted(c)}" for c in frame.columns if c not in model)
            frame = self.spark.sql(spark_sql(f"SELECT {typed}{keep} FROM parquet_{table.name}"))
            # Readable by its own name too, as a DuckDB store's tables are, until resolution shadows it.
            for name in (self.stored(table.name), table.name):
                frame.createOrReplaceTempView(name)

    def _check_types(self, location: str, table: Any) -> None:
        """Raise ``InputError`` naming each column of ``table`` with values that do not cast to its type."""
        from pyspark.errors import AnalysisException

        columns = table.columns
        bad = " , ".join(
            f"count(*) FILTER ({_quoted(c.name)} IS NOT NULL AND TRY_CAST({_quoted(c.name)} AS {DUCKDB_TYPES[c.kind]})"
            f" IS NULL) AS {_quoted(c.name)}" for c in columns)
        try:
            [counts] = self.rows(f"SELECT {bad} FROM parquet_{table.name}")
        except AnalysisException:
            # A column of a type Spark will not cast at all (text to a list, a number to a time) fails
            # the whole query before any value is looked at: found column by column, only then.
            self._check_castable(location, table)
            raise
        wrong = {name: n for name, n in counts.items() if n}
        if not wrong:
            return
        examples = []
        for name, n in wrong.items():
            kind = DUCKDB_TYPES[table.column(name).kind]
            [example] = self.rows(f"SELECT CAST({_quoted(name)} AS VARCHAR) AS v FROM parquet_{table.name} "
                                  f"WHERE {_quoted(name)} IS NOT NULL AND TRY_CAST({_quoted(name)} AS {kind}) IS NULL "
                                  "LIMIT 1")
            examples.append(f"{table.name}.{name}: {n} value(s) not {kind}, e.g. {str(example['v'])[:40]!r}")
        raise InputError(f"{location}: values of the wrong type: " + "; ".join(examples)
                         + ". Fix them in the lake, or load the tables through graphsvc ingest, which rejects such "
                         "rows with their line",
                         zh=f"{location}：有类型不符的值：" + "；".join(examples)
                            + "。请在数据湖中修正，或用 graphsvc ingest 导入（它会拒收这些行并注明行号）")

    def _check_castable(self, location: str, table: Any) -> None:
        """Raise ``InputError`` naming the first column of ``table`` whose stored type Spark cannot cast to
        the contract's."""
        from pyspark.errors import AnalysisException

        stored = dict(self.spark.table(f"parquet_{table.name}").dtypes)
        for c in table.columns:
            try:
                self.spark.sql(spark_sql(f"SELECT TRY_CAST({_quoted(c.name)} AS {DUCKDB_TYPES[c.kind]}) "
                                         f"FROM parquet_{table.name}"))
            except AnalysisException:
                raise InputError(
                    f"{location}: {table.name}.{c.name} is stored as {stored.get(c.name)}, which cannot be read as "
                    f"{DUCKDB_TYPES[c.kind]}: write it as the contract's type in the lake"
                    + (" (a list: an array of text, not ';'-separated text)" if c.kind == "list" else "")
                    + ", or load the tables through graphsvc ingest",
                    zh=f"{location}：列 {table.name}.{c.name} 类型不符，存为 {stored.get(c.name)}，无法读作 "
                       f"{DUCKDB_TYPES[c.kind]}：请在数据湖中按约定类型写入"
                       + ("（列表：文本数组，而非以“;”分隔的文本）" if c.kind == "list" else "")
                       + "，或用 graphsvc ingest 导入") from None

    def _read(self, location: str, table: str) -> Any:
        from pyspark.errors import AnalysisException

        # Spark reads a path as a Hadoop glob: a local folder named lake[1] would read lake1/. Its
        # pattern characters are escaped, so the folder given is the folder read.
        base = location.rstrip("/") if "://" in location else _literal_glob(str(Path(location).resolve()))
        tried = []
        for path in (f"{base}/{table}", f"{base}/{table}.parquet"):
            try:
                return self.spark.read.parquet(path)
            except AnalysisException as exc:  # PATH_NOT_FOUND, or no Parquet there
                tried.append(f"{path} ({str(exc).splitlines()[0][:120]})")
        raise InputError(f"no Parquet table {table} under {location}: tried " + "; ".join(tried),
                         zh=f"{location} 下没有 Parquet 表 {table}：已尝试 " + "；".join(tried))

    @classmethod
    def from_duckdb(cls, spark: pyspark.sql.SparkSession, con: Connection, folder: Path) -> SparkSQLSession:
        """A session over the entity tables of DuckDB connection ``con`` (a store's analysis connection),
        exported to Parquet under ``folder``, which Spark's executors must be able to read."""
        stored = DuckDBSession(con)
        for table in ENTITY_TABLES:
            keep = ", ".join(_quoted(c) for c in stored.columns(stored.stored(table)) if c != ROW_HASH)
            target = str(folder / f"{table}.parquet").replace("'", "''")
            con.execute(f"COPY (SELECT {keep} FROM {stored.stored(table)}) TO '{target}' (FORMAT parquet)")
        return cls(spark, str(folder))

    def stored(self, table: str) -> str:
        return f"stored_{table}"

    def execute(self, sql: str) -> None:
        self.spark.sql(spark_sql(sql))

    def create_table(self, name: str, query: str, params: Params = ()) -> None:
        self._keep(name, self.spark.sql(spark_sql(query), args=list(params) or None))

    def temp_table(self, name: str, columns: Mapping[str, Sequence[str | None]]) -> None:
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(k, StringType()) for k in columns])
        self._keep(name, self.spark.createDataFrame(list(zip(*columns.values())), schema))

    def _keep(self, name: str, frame: Any) -> None:
        """``frame`` computed now and kept as the temp view ``name``, in place of an earlier one of that name.

        On this machine (``local[N]``) a local checkpoint, not ``cache()``: a cached frame keeps its whole
        lineage in the plan of every query that reads it, and Spark plans and stages through that
        lineage again each time (61 jobs and 6 s for one query of shared_address on a 200-person
        scene, 0.7 s and 15 jobs checkpointed). On a cluster, cached (``keeps_lineage``). A replaced
        table's rows are freed: only views defined in SQL, which look their tables up by name, may
        read these tables, never a DataFrame held over an earlier one.
        """
        frame = frame.cache() if self._lineage else frame.localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        previous = self._kept.pop(name, None)
        if previous is not None:
            self._release(previous)
        self._kept[name] = frame

    def _release(self, frame: Any) -> None:
        if self._lineage:
            frame.unpersist()
        else:
            # A local checkpoint's plan is a scan of one persisted RDD, which ``DataFrame.unpersist``
            # does not reach (Spark's cleaner would, only once the frame is garbage-collected).
            frame._jdf.queryExecution().analyzed().rdd().unpersist(False)

    def rows(self, query: str, params: Params = ()) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(spark_sql(query), args=list(params) or None).collect()]

    def columns(self, relation: str) -> list[str]:
        return list(self.spark.table(relation).columns)

    def close(self) -> None:
        for name, frame in self._kept.items():
            self._release(frame)
            self.spark.catalog.dropTempView(name)
        self._kept.clear()
