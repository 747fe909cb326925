"""The compute engine: where SQL over the model's tables runs, whichever backend stores them.

Detection, person keys and the network are SQL; the stores hand the engine Arrow tables (or,
the embedded store, its own database) and get Arrow back. DuckDB is the one engine today;
another (Spark, for a city that outgrows one machine) implements ``ComputeEngine`` and speaks
the same SQL over the tables of ``graphsvc.store.schema``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from graphsvc.model import ENTITY_TABLES
from graphsvc.store.schema import create_sql

__all__ = ["ComputeEngine", "Connection", "DuckDBEngine", "DUCKDB"]

Connection = duckdb.DuckDBPyConnection
"""A session of the engine holding the model's tables by name: what the detectors query."""


class ComputeEngine(ABC):
    @abstractmethod
    def query(self, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
        """One query over Arrow ``tables``, each read by its name; the answer as Arrow."""

    @abstractmethod
    def load(self, tables: Mapping[str, pa.Table]) -> Connection:
        """A new session holding every entity table of the model (typed as the schema says),
        filled with the rows of ``tables`` (their stored columns; a table left out is empty)."""


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

    def load(self, tables: Mapping[str, pa.Table]) -> Connection:
        con = self._session()
        for table in ENTITY_TABLES.values():
            con.execute(create_sql(table))
            rows = tables.get(table.name)
            if rows is not None:
                con.register("_rows", rows)
                con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM _rows")
                con.unregister("_rows")
        return con


DUCKDB = DuckDBEngine()
