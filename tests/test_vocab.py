"""One vocabulary (graphsvc/vocab.py): what detection, the API, the console and the police package name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from graphsvc import evidence, network, vocab
from graphsvc.config import Settings
from graphsvc.detect.config import DetectionConfig
from graphsvc.detect.finding import PATTERNS
from graphsvc.detect.rings import ORGANISER_KINDS
from graphsvc.model import ENTITY_TABLES
from graphsvc.network import Edge
from ingest.aliases import VALUE_ALIASES, map_headers
from queries.export import network_svg
from queries.masking import ENTITY_ATTRIBUTES
from queries.rings import member_roles

CONSOLE = Path(__file__).resolve().parents[1] / "api" / "console"


def test_every_word_has_a_chinese_and_an_english_label():
    lists = vocab.vocabulary()
    assert set(lists) == {"patterns", "finding_kinds", "roles", "node_types", "member_roles", "dispositions",
                          "export_formats", "webhook_events", "webhook_states", "columns", "values"}
    for words in [w for name, w in lists.items() if name != "values"] + list(lists["values"].values()):
        assert words and all(w["zh"] and w["en"] and re.search(r"[\u4e00-\u9fff]", w["zh"]) or w["id"] == "json"
                             for w in words)
    assert [w["id"] for w in lists["node_types"]] == list(network.NODE_TYPES)
    colours = [(w["colour"], w["shape"]) for w in lists["node_types"]]
    assert len(set(c for c, _ in colours)) == len(colours) and len(set(s for _, s in colours)) == len(colours)
    assert all("colour" not in w for w in lists["patterns"])  # colours only where something is drawn


def test_detection_and_casework_use_the_vocabulary():
    assert tuple(vocab.PATTERNS) == PATTERNS
    assert set(DetectionConfig().ring.pattern_precedence) == set(vocab.PATTERNS)
    roles = member_roles([("person", "A"), ("person", "B"), ("person", "C"), ("card", "C1"), ("intermediary", "I1"),
                          ("institution", "H1"), ("address", "X")],
                         [Edge("person:B", "USED_CARD", "card:C1", 3), Edge("card:C1", "HELD_BY", "person:A"),
                          Edge("person:B", "HANDLED_BY", "person:C", 2)])
    assert roles == {"person:A": "card_lender", "person:B": "card_user", "person:C": "agent", "card:C1": "card",
                     "intermediary:I1": "broker", "institution:H1": "institution", "address:X": "shared_identifier"}
    assert set(roles.values()) <= set(vocab.MEMBER_ROLES)
    assert vocab.MEMBER_ROLES["institution"].zh == vocab.NODE_TYPES["institution"].zh == "定点机构"


def test_every_column_and_coded_value_is_named_in_words_ingest_reads_back():
    """The entity page's labels are the agencies' own words: each column's Chinese label is a header
    ingest maps to that column, each coded value's one a value ingest reads as that code."""
    tables = {t.label.lower(): t for t in ENTITY_TABLES.values()}
    derived = {name for t in ENTITY_TABLES.values() for name, _ in t.derived}
    columns = {c.name for t in ENTITY_TABLES.values() for c in t.columns}
    shown = {name for model in ENTITY_ATTRIBUTES.values() for name in model.model_fields}
    assert set(vocab.COLUMNS) == columns | derived | shown
    for name, word in vocab.COLUMNS.items():
        if name not in columns:
            continue
        read_as = {map_headers(t.name, [word.zh])[0].get(word.zh) for t in ENTITY_TABLES.values() if name in t.column_names}
        assert name in read_as, (name, word.zh, read_as)
    coded = {f"{entity}.{c.name}": c.values for entity, t in tables.items() for c in t.columns if c.values}
    assert set(vocab.VALUES) == set(coded)
    for field, words in vocab.VALUES.items():
        assert tuple(words) == coded[field], field
        table = tables[field.split(".")[0]]
        column = field.split(".")[1]
        aliases = VALUE_ALIASES.get(f"{table.name}.{column}", VALUE_ALIASES.get(column, {}))
        assert all(aliases[w.zh] == w.id for w in words.values()), field


def test_every_finding_kind_a_detector_reports_is_named_once():
    assert set(vocab.FINDING_KINDS) == set(evidence.KINDS)  # a sentence for each named kind, a name for each
    assert set(vocab.FINDING_KINDS) >= ORGANISER_KINDS
    assert set(vocab.FLAGS) - {"deceased"} <= set(vocab.FINDING_KINDS)


def test_the_police_package_draws_and_names_types_from_the_vocabulary():
    svg = network_svg({"nodes": [{"id": "person:P1", "type": "person", "label": "P1", "degree": 1}], "edges": []})
    for word in vocab.NODE_TYPES.values():
        assert f'fill="{word.colour}"/><text' in svg and f">{word.zh}</text>" in svg
    assert f'fill="{vocab.NODE_TYPES["person"].colour}"><title>person:P1</title>' in svg


def test_the_console_has_no_vocabulary_of_its_own():
    """Ids may appear in the console's code only as what it asks /vocab for; no label or shape is written there."""
    code = (CONSOLE / "app.js").read_text() + (CONSOLE / "index.html").read_text()
    for words in (vocab.PATTERNS, vocab.FINDING_KINDS, vocab.MEMBER_ROLES, vocab.NODE_TYPES, vocab.DISPOSITIONS,
                  vocab.EXPORT_FORMATS, vocab.COLUMNS, *vocab.VALUES.values()):
        for word in words.values():
            assert f'"{word.zh}"' not in code, word
            assert word.en == word.id or f'"{word.en}"' not in code, word
            if word.shape:
                assert f'"{word.shape}"' not in code, word
    for pattern in vocab.PATTERNS:
        assert f'"{pattern}"' not in code and f"{pattern}:" not in code
    assert "<option>" not in code


@pytest.mark.parametrize("role", list(vocab.ROLES))
def test_vocab_is_served_to_every_valid_key(tmp_path, role):
    settings = Settings(home=tmp_path / "home")
    app = create_app(settings)
    with TestClient(app) as client:
        key, _ = create_api_key(app.state.services.store, role, "someone")
        assert client.get("/vocab").status_code == 401
        answer = client.get("/vocab", headers={"X-API-Key": key})
    assert answer.status_code == 200
    served = answer.json()
    assert served == vocab.vocabulary()
    assert [(w["id"], w["zh"], w["en"]) for w in served["patterns"]][:2] == [
        ("professional_gang", "职业骗保团伙", "professional gang"),
        ("black_intermediary", "黑中介", "black intermediary")]
    assert {w["id"]: w["colour"] for w in served["node_types"]}["person"] == "#4e79a7"
