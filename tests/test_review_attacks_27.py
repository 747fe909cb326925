"""Review attacks (round 27) on the bilingual refusals (56b2aa7: ``detail`` + ``detail_zh``) and the
Chinese-first ingest summary (0cd0d8a, 9f93697).

Each test states a behaviour the product must have; its docstring says what happens now.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api_city import City
from helpers.csv_files import write_csv

_HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def client(embedded_client: TestClient) -> TestClient:
    return embedded_client


# ---- the API's Chinese sentence -------------------------------------------------------------------


@pytest.mark.parametrize(("role", "url"), [
    ("admin", "/rings/R-1%E2%80%AEgnp.exe"),             # RIGHT-TO-LEFT OVERRIDE in a ring id
    ("analyst", "/entities/person/X%0Ainjected"),        # a newline in an entity id
    ("admin", "/apikeys/k%E2%80%AEx"),                   # RLO in a key id (admin's 404)
])
def test_the_chinese_refusal_escapes_what_the_english_one_escapes(client: TestClient, embedded_city: City,
                                                                  role: str, url: str) -> None:
    """The English 404s quote the caller's id with ``!r`` (``'R-1\\u202egnp.exe'``), so a control or bidi
    character arrives escaped. ``detail_zh`` interpolates the raw id (``没有团伙 {ring_id}``), and the console
    shows detail_zh first: a crafted link makes it display reversed or split text (RLO turns the id
    into 'R-1exe.png'), which the English half never did."""
    answer = client.request("DELETE" if url.startswith("/apikeys") else "GET", url,
                            headers=embedded_city.headers(role))
    assert answer.status_code == 404, answer.text
    zh = answer.json()["detail_zh"]
    assert not [c for c in zh if unicodedata.category(c) in ("Cc", "Cf")], zh


def test_a_refused_upload_name_is_said_as_a_name_problem_in_chinese(client: TestClient, embedded_city: City) -> None:
    """A file named ``a;b.csv`` is refused for its name (English: "is not a plain file name ..."), but every
    422 of api/uploads.py shares one Chinese sentence: 上传的文件无法读取或不完整 (the file cannot be read or
    is incomplete). A Chinese-first user re-exports a sound file instead of renaming it."""
    answer = client.post("/ingest", files={"files": ("a;b.csv", b"x,y\n1,2\n", "text/csv")},
                         headers=embedded_city.headers("investigator"))
    assert answer.status_code == 422, answer.text
    assert "plain file name" in answer.json()["detail"]
    assert "文件名" in answer.json()["detail_zh"], answer.json()


def test_an_unexpected_error_answers_detail_and_detail_zh_without_its_text(client: TestClient, embedded_city: City,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """api/errors.py: "Every error the API answers has detail and detail_zh". A defect (an exception outside
    GraphsvcError) still reaches Starlette's ServerErrorMiddleware: ``500 text/plain 'Internal Server
    Error'``, no JSON, no detail_zh; the console then says 请求失败（500）: Internal Server Error."""
    import api.routes.rings as rings_routes

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("/srv/graphsvc/home/graph.duckdb is damaged")

    monkeypatch.setattr(rings_routes, "ring_view", broken)
    answer = client.get("/rings/R-000003", headers=embedded_city.headers("investigator"))
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    body = answer.json()
    assert _HAN.search(body["detail_zh"]) and body["detail"], body
    assert "/srv" not in answer.text


# ---- graphsvc ingest's summary --------------------------------------------------------------------


def _ingest(folder: Path, home: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "cli", "ingest", str(folder), "--quiet", "--home", str(home)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _columns(text: str) -> int:
    """Columns a terminal gives ``text``: combining marks none, wide and full-width characters two."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_ROWS = [["S1", "outpatient", "P1", "H1", "2026-01-02 09:00:00"]]
_HEADER = ["settlement_id", "kind", "person_id", "institution_id", "start_time"]


@pytest.mark.slow
def test_a_gb18030_files_note_is_said_in_chinese_too(tmp_path: Path) -> None:
    """Excel exports in fund offices are GB18030. The reader's note for one is English only
    ("not UTF-8; read as GB18030"), and the Chinese-first summary prints it behind a Chinese label:
    ``说明 note: not UTF-8; read as GB18030``; the Chinese half of the note is the label alone."""
    folder = tmp_path / "in"
    folder.mkdir()
    text = "\n".join([",".join(_HEADER), "S1,outpatient,张三,H1,2026-01-02 09:00:00"]) + "\n"
    (folder / "settlements.csv").write_bytes(text.encode("gb18030"))  # 张 is not UTF-8 in GB18030
    out = _ingest(folder, tmp_path / "home")
    notes = [line for line in out.splitlines() if "GB18030" in line]
    assert notes, out
    assert all(_HAN.search(line.replace("说明", "")) for line in notes), notes


@pytest.mark.slow
def test_the_summary_stays_aligned_for_a_file_name_with_a_combining_accent(tmp_path: Path) -> None:
    """A name written decomposed (macOS and many zips write é as e + U+0301) is counted 2 columns by
    ``_shown_width`` (every non-wide character counts 1) but takes 1: that row's numbers stand one column
    left of the header's and the total's."""
    folder = tmp_path / "in"
    write_csv(folder / unicodedata.normalize("NFD", "settlements_café.csv"), _HEADER, _ROWS)
    out = _ingest(folder, tmp_path / "home").splitlines()
    header = next(i for i, line in enumerate(out) if line.startswith("文件 file"))
    table = [line for line in out[header:] if line.startswith(("文件 file", "settlements", "合计 total"))]
    assert len(table) == 3, out
    def first_count_end(line: str) -> int:
        found = re.match(r"(.*?\d[\d,]*)", line)
        assert found, line
        return _columns(found.group(1))

    ends = {_columns(line[:line.index("读入 read") + len("读入 read")]) if i == 0 else first_count_end(line)
            for i, line in enumerate(table)}
    assert len(ends) == 1, table
