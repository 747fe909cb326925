"""Resolved entities: one row per person and one key per household, for the detectors.

Ingest stores every record as it came (``graphsvc.model``): a person with two 参保人编号 is two
rows of ``persons`` sharing ``person_key``; one household written several ways is several
``address`` strings sharing ``address_key`` (``ingest.resolve``). ``resolve_entities``
shadows the entity tables of one session (``graphsvc.store.engine.Session``: DuckDB's or Spark's)
with TEMP VIEWS of the same names, so SQL that reads ``persons`` or ``settlements`` reads resolved
entities:

- ``persons``: one row per ``person_key``; ``person_id`` is the person_key (the smallest of the
  person's ids), ``person_ids`` (VARCHAR[]) all of them; each attribute is the first non-null
  one in person_id order; ``address_key`` is the completed household key (a key lacking its
  county is completed when the data set holds exactly one matching complete key, see
  ``ingest.resolve.ADDRESS_COMPLETION_SQL``) and ``household`` the same, or the person_key for
  a person with no address or a placeholder one ("不详", "-"), so two persons without an
  address never share a household. A person whose address names a nursing home of the data set
  (``…博爱敬老院3栋1单元2-6``) is its resident: his key is the home's.
- ``cards``: ``person_id`` mapped to the person_key.
- ``settlements``: ``person_id``, and ``agent_id`` where it names a person, mapped to the
  person_key; ``payee_account`` canonical (digits only when written in groups).
- ``institutions``, ``intermediaries``: ``address_key`` completed.
- ``prescribers``: as stored.

The underlying tables stay readable as ``session.stored(table)``. Keys missing from the
tables (a store made before resolution existed, or ``in_memory_claims`` rows) are computed
here from the raw columns.

>>> from graphsvc.detect.finding import in_memory_claims
>>> con = in_memory_claims(
...     persons=[{"person_id": "P1", "id_number": "11010519491231002X", "address": "湖南省长沙市芙蓉区东湖街道十二组35号"},
...              {"person_id": "P2", "address": "长沙市芙蓉区东湖街道12组三十五号"},
...              {"person_id": "P9", "id_number": "11010519491231002X", "address": "湖南省长沙市东湖街道12组35号"}],
...     settlements=[{"settlement_id": "S1", "kind": "outpatient", "person_id": "P9", "institution_id": "H1",
...                   "start_time": "2024-03-05 09:00:00", "payee_account": "6222 0000 0000 0017"}])
>>> resolve_entities(con)
>>> con.execute("SELECT person_id, person_ids, household FROM persons ORDER BY person_id").fetchall()
[('P1', ['P1', 'P9'], '430102|东湖街道12组35号'), ('P2', ['P2'], '430102|东湖街道12组35号')]
>>> con.execute("SELECT person_id, payee_account FROM settlements").fetchall()
[('P1', '6222000000000017')]
"""

from __future__ import annotations

import re

from graphsvc.model import ENTITY_TABLES
from graphsvc.store.engine import Session, SessionLike, session_of
from ingest.resolve import ADDRESS_COMPLETION_SQL, PERSON_KEY_SQL, account_sql, canonical_addresses
from ingest.validate import _id_number_valid

__all__ = ["resolve_entities", "RESOLVED_TABLES"]

RESOLVED_TABLES = ("persons", "cards", "settlements", "institutions", "intermediaries")
"""The tables ``resolve_entities`` shadows with views."""

_ADDRESS_TABLES = ("persons", "institutions", "intermediaries")

_PLACEHOLDER = r"[0-9]*\|(不详|未知|无|暂无|空|其他|待补充|-+|0+|\.+|null|none|n/?a)?"
"""An address key that names no place ("不详", "-", "0", empty after the region): no household, or every
person written so would be one household and the identifiers they share would look like a family's."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_HOME_NAME = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]+(养老院|敬老院|福利院|颐养院|护理院|护养院|康养中心|养老中心|"
                        r"托养中心|老年公寓|幸福院|光荣院)")
"""A nursing home's name an address can be searched for: one that says it is a home (…敬老院, …康养中心)
after a name of its own (a bare "敬老院" is no one home's), letters, digits and Chinese only (the name
goes into a regular expression, so nothing in it may be an operator). A home called like an estate
(幸福家园) is not searched for: 幸福家园3栋 is as likely a flat on the estate of that name."""


_ROOM = r"(?:$|[0-9０-９一二三四五六七八九十零〇栋幢座楼号单元室床房层区#＃\-－(（\s])"
"""What may follow a home's name in a resident's address: its end, a building, room or bed. Anything else
makes the name part of a longer place name (阳光家园安置小区, 阳光家园路), no home's."""


def _care_home_residents(session: Session, home_key: str, home_joins: str) -> bool:
    """Create ``resolved_home_residents`` (person_id, home_key): the persons whose address names a
    nursing home of the data set, with the home's address key. Returns False when no home has a
    name to search for.

    A resident is registered at his room (``…敬老院3栋1单元2-6``), at the home's name alone, or at the
    home's address written as the export's clerk wrote it, the name ending the place (``_ROOM``); the home's
    own row may give its office's address. The rooms are not households: residents share the home's
    caregiver as contact and its account, as a family would, and the waves the home sends to
    hospital are its residents' (``care_home_waves``). A name two homes share names neither.
    """
    stored = session.stored
    names = sorted({r["name"] for r in session.rows(f"""
        SELECT name FROM {stored('institutions')} WHERE kind = 'nursing_home' AND name IS NOT NULL
        GROUP BY name HAVING count(*) = 1""") if _HOME_NAME.fullmatch(r["name"])}, key=lambda n: (-len(n), n))
    if not names:
        return False
    session.temp_table("resolved_home_names", {"name": names})
    session.create_table("resolved_home_residents", f"""
        WITH homes AS (SELECT t.name, {home_key} AS home_key FROM {stored('institutions')} t {home_joins}
                       WHERE t.kind = 'nursing_home' AND t.name IN (SELECT name FROM resolved_home_names)),
        named AS (SELECT person_id, regexp_extract(address, ?, 1) AS name FROM {stored('persons')}
                  WHERE regexp_matches(address, ?))
        SELECT n.person_id, h.home_key FROM named n JOIN homes h ON h.name = n.name
        WHERE h.home_key IS NOT NULL""", [f"({'|'.join(names)}){_ROOM}"] * 2)
    return True


def resolve_entities(con: SessionLike) -> None:
    """Create the TEMP VIEWS (see the module doc) on ``con``; calling it again refreshes them.

    Small helper tables are materialised as TEMP tables (``resolved_address_keys``,
    ``resolved_person_keys``, ``resolved_person_aliases``, ``resolved_persons``) so a
    detector that reads ``persons`` or ``settlements`` many times pays for resolution once.
    """
    session = session_of(con)
    stored = session.stored
    columns = {t: session.columns(stored(t)) for t in RESOLVED_TABLES}

    # ---- address keys: stored ones, the missing ones computed, then completed over the data set
    missing: set[str] = set()
    for t in _ADDRESS_TABLES:
        where = "address IS NOT NULL" + (" AND address_key IS NULL" if "address_key" in columns[t] else "")
        missing.update(r["address"] for r in session.rows(f"SELECT DISTINCT address FROM {stored(t)} WHERE {where}"))
    ordered = sorted(missing)
    session.temp_table("resolved_computed_keys", {"address": ordered, "address_key": canonical_addresses(ordered)})

    def address_key(t: str) -> str:
        """The raw key of table ``t`` (alias ``t``) joined with alias ``m`` on resolved_computed_keys."""
        return "coalesce(t.address_key, m.address_key)" if "address_key" in columns[t] else "m.address_key"

    raw_keys = " UNION ALL ".join(
        f"SELECT {address_key(t)} AS address_key FROM {stored(t)} t "
        f"LEFT JOIN resolved_computed_keys m ON m.address = t.address" for t in _ADDRESS_TABLES)
    session.create_table("resolved_address_keys", ADDRESS_COMPLETION_SQL.format(keys=raw_keys))

    def completed_key(t: str) -> str:
        return f"coalesce(c.completed, {address_key(t)})"

    def address_joins(t: str) -> str:
        return (f"LEFT JOIN resolved_computed_keys m ON m.address = t.address "
                f"LEFT JOIN resolved_address_keys c ON c.key = {address_key(t)}")

    # ---- person keys (recomputed: a NULL id_number_valid is checked here)
    valid = "id_number_valid" if "id_number_valid" in columns["persons"] else "NULL"
    person_rows = (f"SELECT person_id, id_number, coalesce({valid}, {_id_number_valid('id_number', first_generation=True)}) AS id_number_valid "
                   f"FROM {stored('persons')}")
    session.create_table("resolved_person_keys", PERSON_KEY_SQL.format(persons=person_rows))
    session.create_table("resolved_person_aliases",
                         "SELECT person_id, person_key FROM resolved_person_keys WHERE person_key <> person_id")

    # ---- persons: one row per person_key
    # A person with one record (nearly all) is that record: only the keys with several records are
    # grouped, which at millions of persons saves most of the aggregate's time.
    model = [c.name for c in ENTITY_TABLES["persons"].columns if c.name != "person_id"]
    model += [c for c in ("id_number_valid",) if c in columns["persons"]]
    firsts = ", ".join(f"min_by(t.{_q(c)}, t.person_id) FILTER (WHERE t.{_q(c)} IS NOT NULL) AS {_q(c)}" for c in model)
    own = ", ".join(f"t.{_q(c)}" for c in model)
    key = completed_key("persons")
    joined = f"{stored('persons')} t JOIN resolved_person_keys k USING (person_id) {address_joins('persons')}"
    if _care_home_residents(session, completed_key("institutions"), address_joins("institutions")):
        key = f"coalesce(r.home_key, {key})"
        joined += " LEFT JOIN resolved_home_residents r ON r.person_id = t.person_id"
    several = "SELECT person_key FROM resolved_person_aliases"
    session.create_table("resolved_persons", f"""
        SELECT k.person_key AS person_id, {own}, {key} AS address_key, k.person_key AS person_key,
               [t.person_id] AS person_ids,
               CASE WHEN {key} IS NOT NULL AND NOT regexp_full_match({key}, '{_PLACEHOLDER}') THEN {key}
                    ELSE k.person_key END AS household
        FROM {joined}
        WHERE k.person_key NOT IN ({several})
        UNION ALL
        SELECT k.person_key AS person_id, {firsts},
               min_by({key}, t.person_id) FILTER (WHERE {key} IS NOT NULL) AS address_key,
               k.person_key AS person_key,
               list_sort(list(t.person_id)) AS person_ids,
               coalesce(min_by({key}, t.person_id) FILTER (WHERE {key} IS NOT NULL
                                                           AND NOT regexp_full_match({key}, '{_PLACEHOLDER}')),
                        k.person_key) AS household
        FROM {joined}
        WHERE k.person_key IN ({several})
        GROUP BY k.person_key""")
    session.execute("CREATE OR REPLACE TEMP VIEW persons AS SELECT * FROM resolved_persons")

    # ---- institutions, intermediaries: the completed address key
    for t in ("institutions", "intermediaries"):
        keep = ", ".join(f"t.{_q(c)}" for c in columns[t] if c != "address_key")
        session.execute(f"CREATE OR REPLACE TEMP VIEW {t} AS SELECT {keep}, {completed_key(t)} AS address_key "
                    f"FROM {stored(t)} t {address_joins(t)}")

    # ---- cards and settlements: person ids mapped to the person_key
    keep = ", ".join("coalesce(a.person_key, t.person_id) AS person_id" if c == "person_id" else f"t.{_q(c)}"
                     for c in columns["cards"])
    session.execute(f"CREATE OR REPLACE TEMP VIEW cards AS SELECT {keep} FROM {stored('cards')} t "
                "LEFT JOIN resolved_person_aliases a ON a.person_id = t.person_id")
    [grouped] = session.one(f"SELECT count(*) FROM {stored('settlements')} "
                            r"WHERE regexp_matches(payee_account, '[\s-]')")
    agent_is_person = ("coalesce(t.agent_type, 'person') = 'person'" if "agent_type" in columns["settlements"]
                       else "true")
    expressions = {
        "person_id": "coalesce(a.person_key, t.person_id)",
        "agent_id": f"CASE WHEN {agent_is_person} THEN coalesce(g.person_key, t.agent_id) ELSE t.agent_id END",
        # Ingest stores accounts canonical; only older data needs the repair, read by read.
        "payee_account": account_sql("t.payee_account") if grouped else "t.payee_account",
    }
    keep = ", ".join(f"{expressions[c]} AS {_q(c)}" if c in expressions else f"t.{_q(c)}" for c in columns["settlements"])
    session.execute(f"CREATE OR REPLACE TEMP VIEW settlements AS SELECT {keep} FROM {stored('settlements')} t "
                "LEFT JOIN resolved_person_aliases a ON a.person_id = t.person_id "
                "LEFT JOIN resolved_person_aliases g ON g.person_id = t.agent_id")
