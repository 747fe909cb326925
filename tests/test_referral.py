"""The referral letter (report.pdf), the package's signature and ``graphsvc verify``, on the API test city.

Known answers (``helpers.api_city``): R-000003 is the black intermediary ring, broker IBI and six
recruits BI000..BI005 at H100, 18 claims. Each attack on a package must be refused naming the file.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader

from api import create_app
from cli.commands import main
from graphsvc import vocab
from graphsvc.config import Settings
from graphsvc.errors import StoreError
from graphsvc.signing import KEY_FILE, fingerprint, home_key, public_pem
from graphsvc.store import GraphStore, open_store
from helpers.api_city import Cities, City, city_scene, load_scene
from helpers.csv_files import read_rejects, write_csv
from ingest.pipeline import ingest_folder
from queries.export import build_package, data_digest, network_svg, read_package, verify_package, zip_package
from queries.masking import Masker
from queries.referral_pdf import SHORTENED_NOTE
from queries.rings import RingBook, ring_detail
from queries.sheets import append_row
from services import export_ring

RING = "R-000003"


@pytest.fixture
def city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    """The session's test city on the embedded store (the PDF does not depend on the backend)."""
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as made:
        yield made


def _package(city: City, home: Path, role: str, ring_id: str = RING) -> dict[str, bytes]:
    files = build_package(city.store, RingBook(city.store), ring_id, "json", Masker(role, secret="s" * 32),
                          generated_by="tester", signing_key=home_key(home))
    assert files is not None
    return files


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _flat(text: str) -> str:
    """Text without white space: the PDF wraps long cells and sentences where the line ends."""
    return re.sub(r"\s+", "", text)


def _refused_files(files: dict[str, bytes], **kwargs: object) -> set[str]:
    verdict = verify_package(files, **kwargs)  # type: ignore[arg-type]
    assert not verdict.ok
    return {p.file for p in verdict.problems}


def test_pdf_has_the_cover_members_evidence_and_the_data_digest_on_every_page(city: City, tmp_path: Path) -> None:
    files = _package(city, tmp_path / "home", "investigator")
    pages = _pages(files["report.pdf"])
    text = _flat("".join(pages))
    cover = _flat(pages[0])
    starts = sorted(str(c["start_time"])[:10] for c in city.store.ring_claims(RING))
    for field in ("医保基金欺诈线索移送书", "接收单位", "案件编号", RING, "黑中介", "H100", "430102",
                  f"{starts[0]}至{starts[-1]}", "90,000.00", "待处置(open)"):
        assert field in cover, field
    # where its claims were made, though no finding names it; claim kinds in Chinese
    where = {c["institution_id"] for c in city.store.ring_claims(RING)}
    assert where and all(i in cover for i in where), (where, cover)
    kinds = {c["kind"] for c in city.store.ring_claims(RING)}
    assert all(vocab.VALUES["settlement.kind"][k].zh in text for k in kinds) and "inpatient" not in text
    document = json.loads(files[f"ring-{RING}.json"])
    member_ids = [m["id"] for m in document["members"]]
    assert "IBI" in member_ids and all(member_id in text for member_id in member_ids)
    assert all(c["settlement_id"] in text for c in document["claims"]) and len(document["claims"]) == 18
    evidence = ring_detail(RingBook(city.store), RING, Masker("investigator", secret="s" * 32), "zh")
    assert evidence is not None
    sentences = [e["detail"] for e in evidence["evidence"]]
    assert any("收款账户" in s for s in sentences)  # the sentences are the Chinese ones
    assert all(_flat(s) in text for s in sentences)
    digest = data_digest(files)
    assert json.loads(files["manifest.json"])["data_digest"]["sha256"] == digest
    assert len(pages) >= 4 and all(digest in page for page in pages)
    # the investigator sees a recruit's raw phone and address: the analyst test below can fail
    scene, _ = city_scene()
    recruit = next(p for p in scene.tables["persons"] if p["person_id"] == "BI000")
    assert recruit["phone"] in text and _flat(recruit["address"]) in text


def test_an_analysts_pdf_shows_no_raw_personal_value_of_the_city(city: City, tmp_path: Path) -> None:
    files = _package(city, tmp_path / "home", "analyst")
    text = _flat("".join(_pages(files["report.pdf"])))
    scene, _ = city_scene()
    raw = {_flat(str(p[k])) for p in scene.tables["persons"] for k in ("name", "id_number", "phone", "address", "birth_date")
           if p.get(k)}
    assert len(raw) > 20 and not [value for value in raw if value in text]
    assert "BI000" in text and "****" in text  # members are there, masked as in the other files
    assert verify_package(files).ok


LONG_NAME = "长" * 1000


def _long_named_city(store: GraphStore, tmp_path: Path) -> City:
    """The city with recruit BI001 named with 1,000 characters, as long as ingest allows."""
    scene, facts = city_scene()
    next(p for p in scene.tables["persons"] if p["person_id"] == "BI001")["name"] = LONG_NAME
    return load_scene(store, tmp_path, scene, facts)


def test_a_name_too_long_for_a_pdf_cell_is_shortened_with_a_mark_and_whole_in_the_data(
        cities: Cities, tmp_path: Path) -> None:
    """fpdf2 cannot split a table row across pages: the 22 mm name column holds at most 10 lines
    (9 characters a line at 6.5 pt), the rest cut with … and the letter says where the full value is."""
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded"), _long_named_city) as city:
        files = _package(city, tmp_path / "key-home", "investigator")
    text = _flat("".join(_pages(files["report.pdf"])))
    assert [len(cut) for cut in re.findall("长+(?=…)", text)] == [89]  # 90 characters with the mark
    assert _flat(SHORTENED_NOTE) in text
    members = {m["id"]: m for m in json.loads(files[f"ring-{RING}.json"])["members"]}
    assert members["BI001"]["name"] == LONG_NAME
    assert verify_package(files).ok


def test_a_character_xml_cannot_hold_is_refused_at_ingest_naming_it(tmp_path: Path) -> None:
    """U+FFFF is valid UTF-8 but no XML (the package's SVG and workbooks) may hold it."""
    header = ["person_id", "name", "gender"]
    folder = tmp_path / "city"
    write_csv(folder / "persons.csv", header, [["P1", "张三", "M"], ["P2", "张\uffff三", "M"], ["P3", "李\x01四", "F"]])
    with open_store(Settings(home=tmp_path / "home", backend="embedded")) as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        loaded = store.rows("persons").column("person_id").to_pylist()
    assert report.rejects_path is not None
    rejects = {r["line"]: r["reason"] for r in read_rejects(report.rejects_path)}
    assert rejects == {"3": "noncharacter U+FFFE or U+FFFF in name (XML cannot hold it; 含非法字符)",
                       "4": "control character in name"}
    assert loaded == ["P1"]


def test_data_loaded_before_that_refusal_still_makes_xml_that_parses() -> None:
    """A name stored before ingest refused such characters: the SVG and a workbook row replace them
    with U+FFFD (visible), and the row's formula guard still holds."""
    graph: dict[str, list[dict[str, Any]]] = {"nodes": [{"id": "person:P\uffff", "type": "person", "label": "张\uffff三\x01"}],
             "edges": [{"source": "person:P\uffff", "target": "person:P\uffff", "label_zh": "就医\ufffe",
                        "claims": 1}]}
    labels = [t.text for t in ET.fromstring(network_svg(graph)).iter("{http://www.w3.org/2000/svg}text")]
    assert "张\ufffd三\ufffd" in labels
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    append_row(sheet, ["张\uffff三", "=HYPERLINK(\"http://x/\",\"\ufffe\")", 5])
    out = io.BytesIO()
    book.save(out)
    cells = next(load_workbook(out).worksheets[0].iter_rows())
    assert [(c.value, c.data_type) for c in cells] == [
        ("张\ufffd三", "s"), ("=HYPERLINK(\"http://x/\",\"\ufffd\")", "s"), (5, "n")]


def test_the_signature_verifies_with_the_homes_key_and_openssl_would_too(city: City, tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = _package(city, home, "investigator")
    key = home_key(home)
    verdict = verify_package(files, key.public_key())
    assert verdict.ok and verdict.ring_id == RING and not verdict.bundled_key
    assert verdict.key_fingerprint == fingerprint(key.public_key())
    key.public_key().verify(files["manifest.sig"], files["manifest.json"])  # the bytes signed: manifest.json's own
    assert files["signing-key.pem"] == public_pem(key.public_key()).encode()
    assert os.stat(home / KEY_FILE).st_mode & 0o777 == 0o600
    assert b"PRIVATE" not in b"".join(files.values())


def test_every_attack_on_a_package_is_refused_naming_the_file(city: City, tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = _package(city, home, "investigator")
    for name, content in files.items():
        tampered = bytearray(content)
        tampered[len(tampered) // 2] ^= 0x01
        refused = _refused_files({**files, name: bytes(tampered)})
        # a changed manifest is caught by its signature; every other file by its own name
        assert (name in refused) or (name == "manifest.json" and "manifest.sig" in refused), (name, refused)
        # a data file changed after signing does not make the genuine letter look forged
        if name not in ("report.pdf", "manifest.json", "manifest.sig", "manifest.sha256"):
            assert "report.pdf" not in refused, (name, refused)
    for name in files:
        missing = {n: b for n, b in files.items() if n != name}
        assert name in _refused_files(missing) or (name == "manifest.json" and _refused_files(missing) == {name})
    assert _refused_files({**files, "extra.xlsx": b"PK"}) == {"extra.xlsx"}
    other_ring = _package(city, home, "investigator", "R-000001")
    assert _refused_files({**files, "manifest.sig": other_ring["manifest.sig"]}) == {"manifest.sig"}
    # a forger re-signs a changed package with a key of their own and bundles it: the bundled key
    # still "verifies" (integrity only), the fund's key given with --key does not
    forged = _package(city, tmp_path / "other-home", "investigator")
    assert verify_package(forged).ok
    problems = verify_package(forged, home_key(home).public_key()).problems
    assert [(p.file, "来源不符" in p.zh) for p in problems] == [("manifest.sig", True)]


def test_cli_verify_and_signing_key(city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    files = export_ring(city.store, RingBook(city.store), RING, "xlsx", Masker("analyst", secret="s" * 32),
                        generated_by="tester", audit=lambda *a, **k: None, home=home)
    folder = tmp_path / "package"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    archive = tmp_path / "package.zip"
    archive.write_bytes(zip_package(files, f"{RING}-xlsx"))
    assert read_package(archive) == read_package(folder) == files

    assert main(["signing-key", "--home", str(home)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("-----BEGIN PUBLIC KEY-----") and fingerprint(home_key(home).public_key()) in printed
    key_file = tmp_path / "fund.pem"
    key_file.write_text(printed.split("fingerprint-sha256")[0])

    assert main(["verify", str(archive)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("核验通过 verified") and "integrity only, not origin" in out
    assert main(["verify", str(folder), "--key", str(key_file)]) == 0
    assert "integrity only" not in capsys.readouterr().out

    (folder / "report.pdf").write_bytes(files["report.pdf"][:-10])
    assert main(["verify", str(folder), "--key", str(key_file)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("核验失败 verification FAILED") and "report.pdf: 文件与清单中的 SHA-256 摘要不符" in err

    other = tmp_path / "other.pem"
    other.write_text(public_pem(home_key(tmp_path / "other-home").public_key()))
    assert main(["verify", str(archive), "--key", str(other)]) == 3
    assert "manifest.sig: 签名不是由所给公钥签署" in capsys.readouterr().err

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["verify", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert "is not a readable zip" in err and "Traceback" not in err and err.count("\n") == 1
    damaged = bytearray(archive.read_bytes())
    start = damaged.index(b"report.pdf") + 200  # inside report.pdf's compressed bytes
    damaged[start:start + 8] = bytes(8)
    (tmp_path / "damaged.zip").write_bytes(bytes(damaged))
    assert main(["verify", str(tmp_path / "damaged.zip")]) in (2, 3)
    err = capsys.readouterr().err
    assert "report.pdf" in err and "Traceback" not in err
    assert main(["verify", str(folder), "--key", str(folder / "report.html")]) == 2
    assert "not a PEM public key" in capsys.readouterr().err


def test_verify_parses_the_pdf_only_once_it_is_authenticated(city: City, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A PDF whose digest is not the signed manifest's is refused by its digest and never handed to
    pypdf (a parser bug is not exposed to a forger); an authentic one is read for its footers."""
    files = _package(city, tmp_path / "home", "investigator")
    opened: list[bytes] = []
    real = PdfReader

    def reader(stream: io.BytesIO) -> PdfReader:
        opened.append(stream.getvalue())
        return real(stream)

    monkeypatch.setattr("pypdf.PdfReader", reader)
    forged = {**files, "report.pdf": b"%PDF-1.7 anything a forger wrote"}
    assert [(p.file, p.en) for p in verify_package(forged).problems] == [
        ("report.pdf", "SHA-256 differs from the manifest's")]
    unsigned = {**files, "manifest.sig": bytes(64)}
    assert {p.file for p in verify_package(unsigned).problems} == {"manifest.sig"}
    assert opened == []
    assert verify_package(files).ok and opened == [files["report.pdf"]]


def test_a_package_folder_with_a_link_or_over_the_size_cap_is_refused_unread(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    (folder / "a.csv").symlink_to(tmp_path / "elsewhere.csv")
    assert main(["verify", str(folder)]) == 2
    assert "a.csv is not a plain file or folder" in capsys.readouterr().err
    (folder / "a.csv").unlink()
    with (folder / "a.csv").open("wb") as f:
        f.truncate((256 << 20) + 1)  # sparse: no disk used, and it is never read
    assert main(["verify", str(folder)]) == 2
    assert "holds more than 256 MiB; not a police package" in capsys.readouterr().err


def test_get_signing_key_serves_the_public_key_and_audits_the_read(city: City, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", backend="embedded")
    with TestClient(create_app(settings, store=city.store)) as client:
        assert client.get("/signing-key").status_code == 401
        answer = client.get("/signing-key", headers=city.headers("police_liaison"))
        assert answer.status_code == 200
    body = answer.json()
    public = home_key(settings.home).public_key()
    assert body["public_key_pem"] == public_pem(public) and body["fingerprint_sha256"] == fingerprint(public)
    assert body["printable"].replace(" ", "").replace("\n", "").lower() == fingerprint(public)
    assert "PRIVATE" not in answer.text
    audited = [e for e in city.store.list_records("audit", limit=1000)[1] if e["action"] == "read_signing_key"]
    assert [(e["target"], e["role"]) for e in audited] == [(fingerprint(public), "police_liaison")]


def test_a_signing_key_others_may_read_is_refused(tmp_path: Path) -> None:
    home_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        home_key(tmp_path)
