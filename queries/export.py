"""The police liaison package (线索移送): one ring, everything the receiving side needs, verifiable.

A package is a set of files: the data in the asked format (``xlsx``, ``csv``, ``json`` or
``graphml``), a printable ``report.html`` with the network picture (``network.svg``), the referral
letter ``report.pdf`` (``queries.referral_pdf``), the fund's public key ``signing-key.pem``, a
manifest of SHA-256 digests (``manifest.json`` and ``manifest.sha256``, the latter checkable with
``sha256sum -c``) and ``manifest.sig``. Human-facing formats have Chinese column headers; JSON and
GraphML keep the contract's English names for machines.

What is hashed and signed, exactly:

- the **data digest** (``data_digest``; in ``manifest.json`` as ``data_digest`` and in the footer of
  every page of ``report.pdf``) is the SHA-256 of the ``sha256sum`` lines (``<hex>  <name>\\n``, names
  sorted by their bytes) of every file but ``report.pdf``, ``manifest.json``, ``manifest.sha256`` and
  ``manifest.sig``: the PDF cannot carry a digest of itself, so it carries the digest of all it was
  made from, and the manifest then lists the PDF's own digest;
- ``manifest.sig`` is the 64-byte Ed25519 signature, by the fund's key (``graphsvc.signing``), of the
  bytes of ``manifest.json`` exactly as stored. Without graphsvc:
  ``openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in manifest.json -sigfile manifest.sig``,
  then ``sha256sum -c manifest.sha256``.

``verify_package`` checks all of it. The public key inside a package only proves the files were not
changed after signing (anyone can sign with a key of their own and bundle it); that the package
comes from the fund needs the key the fund handed over out of band (``graphsvc verify --key``).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from graphsvc import vocab
from graphsvc.errors import InputError
from graphsvc.network import NETWORK_RELATIONSHIPS, node_key, split_key
from graphsvc.signing import fingerprint, load_public_pem, public_pem, signature_holds
from graphsvc.store import GraphStore
from graphsvc.xmltext import xml_text
from queries.masking import Masker, masked_dump
from queries.referral_pdf import referral_pdf
from queries.rings import RingBook, ring_detail
from queries.sheets import append_row, reads_as_formula

__all__ = ["build_package", "zip_package", "verify_manifest", "data_digest", "read_package", "verify_package",
           "Problem", "Verdict", "NOT_IN_DATA_DIGEST"]

PDF, MANIFEST, MANIFEST_SHA256, SIGNATURE, PUBLIC_KEY = ("report.pdf", "manifest.json", "manifest.sha256",
                                                         "manifest.sig", "signing-key.pem")
NOT_IN_DATA_DIGEST = (PDF, MANIFEST, MANIFEST_SHA256, SIGNATURE)
"""The files the data digest leaves out: the PDF that shows it and the manifest files made after it."""
_NOT_LISTED = (MANIFEST, MANIFEST_SHA256, SIGNATURE)
"""The files the manifest does not list: itself, what is derived from it, and its signature."""
_MAX_PACKAGE_BYTES = 256 << 20
"""A package (zip or folder) larger than this unpacked is refused before it is read: ``verify`` holds
all of it in memory (twice for a zip) and parses its PDF. A package is about 3 KB a claim unpacked
(the data file, report.html and the letter's table; a 24-claim ring's is 150 KB), so this holds a
ring of some 80,000 claims, beyond any one referral, and a forged or damaged file claiming gigabytes
costs the receiver nothing."""

_MEMBER_COLUMNS = [("type_zh", "类型"), ("id", "编号"), ("role_zh", "角色"), ("name", "姓名/名称"),
                   ("id_number", "身份证号"), ("gender", "性别"), ("birth_date", "出生日期"), ("phone", "电话"),
                   ("address", "地址"), ("region_code", "区划"), ("claims", "涉案结算笔数"), ("fund_amount", "涉案统筹金额")]
_CLAIM_COLUMNS = [("settlement_id", "结算编号"), ("kind", "类别"), ("person_id", "参保人"), ("card_id", "卡号"),
                  ("institution_id", "机构"), ("prescriber_id", "医师"), ("agent_id", "代办人"),
                  ("contact_phone", "联系电话"), ("device_id", "设备"), ("start_time", "开始时间"),
                  ("end_time", "结束时间"), ("total_amount", "总金额"), ("fund_amount", "统筹支付")]
_EVIDENCE_COLUMNS = [("kind", "证据类型"), ("detail", "说明"), ("strength", "强度"), ("entities", "涉及对象"),
                     ("settlements", "结算笔数")]
_EDGE_COLUMNS = [("source", "起点"), ("label_zh", "关系"), ("target", "终点"), ("claims", "笔数"),
                 ("fund_amount", "金额"), ("first", "首次"), ("last", "末次")]


def build_package(store: GraphStore, book: RingBook, ring_id: str, fmt: str, masker: Masker, *,
                  generated_by: str, signing_key: Ed25519PrivateKey) -> dict[str, bytes] | None:
    """The package's files by name, manifest and signature by ``signing_key`` included; None when there is
    no such ring. What is hashed and signed: the module's docstring."""
    if fmt not in vocab.EXPORT_FORMATS:
        raise InputError(f"format must be one of {', '.join(vocab.EXPORT_FORMATS)}",
                         zh=f"导出格式须为 {'、'.join(vocab.EXPORT_FORMATS)} 之一")
    found = ring_detail(book, ring_id, masker)
    if found is None:
        return None
    detail = masked_dump(found, masker)  # the ring as the API shows it to this role: masked by each field's kind
    members = _members(store, book, ring_id, detail, masker)
    ring_claims = store.ring_claims(ring_id)
    # ingest makes an agent id that names an intermediary an intermediary, else a person
    agents = [node_key("intermediary", c["agent_id"]) for c in ring_claims if c.get("agent_id")]
    intermediaries = {split_key(k)[1] for k in store.network_nodes(agents)} if masker.active else set()
    claims = [_claim_row(c, masker, intermediaries) for c in ring_claims]
    evidence = [{**e, "entities": "; ".join(f"{x['type']}:{x['id']}" for x in e["entities"])} for e in detail["evidence"]]
    summary = _summary(detail, claims, generated_by)
    files: dict[str, bytes] = {}
    stem = f"ring-{ring_id}"
    if fmt == "xlsx":
        files[f"{stem}.xlsx"] = _xlsx(summary, members, claims, evidence, detail["graph"]["edges"])
    elif fmt == "csv":
        files[f"{stem}-summary.csv"] = _csv([("field", "项目"), ("value", "内容")],
                                            [{"field": k, "value": v} for k, v in summary.items()])
        files[f"{stem}-members.csv"] = _csv(_MEMBER_COLUMNS, members)
        files[f"{stem}-claims.csv"] = _csv(_CLAIM_COLUMNS, claims)
        files[f"{stem}-evidence.csv"] = _csv(_EVIDENCE_COLUMNS, evidence)
        files[f"{stem}-edges.csv"] = _csv(_EDGE_COLUMNS, detail["graph"]["edges"])
    elif fmt == "json":
        document = {"ring": {k: v for k, v in detail.items() if k != "graph"}, "members": members, "claims": claims,
                    "graph": detail["graph"], "generated_by": generated_by}
        files[f"{stem}.json"] = json.dumps(document, ensure_ascii=False, indent=1, default=str).encode()
    else:
        files[f"{stem}.graphml"] = _graphml(detail["graph"])
    svg = network_svg(detail["graph"])
    files["network.svg"] = svg.encode()
    files["report.html"] = _report_html(summary, members, claims, detail["evidence"], svg).encode()
    public_key = signing_key.public_key()
    files[PUBLIC_KEY] = public_pem(public_key).encode()
    digest = data_digest(files)
    # The letter shows what the other files show to this role: the same masked rows, never a fresh read.
    files[PDF] = referral_pdf(summary, detail, members, claims, svg, digest)
    manifest = {"ring_id": ring_id, "format": fmt, "generated_at": summary["生成时间"], "generated_by": generated_by,
                "algorithm": "SHA-256",
                "files": [{"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in sorted(files.items())],
                "data_digest": {"sha256": digest, "covers": "SHA-256 of the sha256sum lines of every file but "
                                + ", ".join(NOT_IN_DATA_DIGEST) + "; shown in the footer of every page of " + PDF},
                "signature": {"file": SIGNATURE, "algorithm": "Ed25519", "signs": f"the bytes of {MANIFEST} as stored",
                              "key_fingerprint_sha256": fingerprint(public_key), "public_key": PUBLIC_KEY}}
    files[MANIFEST] = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    files[MANIFEST_SHA256] = _sha256sum_lines(manifest["files"]).encode()
    files[SIGNATURE] = signing_key.sign(files[MANIFEST])
    return files


def data_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of the ``sha256sum`` lines of ``files`` but those in ``NOT_IN_DATA_DIGEST``, names sorted by
    their bytes: what ``LC_ALL=C sha256sum $(ls | grep -v ...) | sha256sum`` prints in the package's folder.

    >>> data_digest({"a.csv": b"x", "report.pdf": b"any"}) == data_digest({"a.csv": b"x"})
    True
    >>> data_digest({"a.csv": b"x"}) == data_digest({"a.csv": b"y"})
    False
    """
    listed = [{"name": n, "sha256": hashlib.sha256(b).hexdigest()}
              for n, b in sorted(files.items(), key=lambda item: item[0].encode()) if n not in NOT_IN_DATA_DIGEST]
    return hashlib.sha256(_sha256sum_lines(listed).encode()).hexdigest()


def _sha256sum_lines(listed: list[dict[str, Any]]) -> str:
    return "".join(f"{f['sha256']}  {f['name']}\n" for f in listed)


def zip_package(files: dict[str, bytes], folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in sorted(files.items()):
            z.writestr(f"{folder}/{name}", content)
    return buffer.getvalue()


def verify_manifest(files: dict[str, bytes]) -> list[str]:
    """Names of files whose digest does not match the manifest (or that are missing); empty when it verifies."""
    manifest = json.loads(files["manifest.json"])
    return [f["name"] for f in manifest["files"]
            if f["name"] not in files or hashlib.sha256(files[f["name"]]).hexdigest() != f["sha256"]]


class Problem(NamedTuple):
    """Why a package is refused: the file it is about, in Chinese and in English."""
    file: str
    zh: str
    en: str


@dataclass
class Verdict:
    """What ``verify_package`` found; the package verifies when there is no problem."""
    problems: list[Problem] = field(default_factory=list)
    ring_id: str | None = None
    files: int = 0
    key_fingerprint: str | None = None
    """Of the key the signature was checked with."""
    bundled_key: bool = True
    """Checked with the key inside the package: proves integrity, not origin."""

    @property
    def ok(self) -> bool:
        return not self.problems


def read_package(path: Path) -> dict[str, bytes]:
    """A package's files by name, from its folder (``graphsvc export``) or its zip (the API's, one
    top folder); InputError, naming what is wrong, for anything else or a damaged zip."""
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder", zh=f"找不到移送包 {path}")
    try:
        with zipfile.ZipFile(path) as z:
            entries = [i for i in z.infolist() if not i.is_dir()]
            if sum(i.file_size for i in entries) > _MAX_PACKAGE_BYTES:
                raise InputError(f"{path} unpacks to more than {_MAX_PACKAGE_BYTES >> 20} MiB; not a police package",
                                 zh=f"压缩包 {path} 解压后超过 {_MAX_PACKAGE_BYTES >> 20} MiB，不是移送包")
            names = [i.filename for i in entries]
            if len(set(names)) != len(names):
                raise InputError(f"{path} holds two entries of one name; a package has each file once",
                                 zh=f"压缩包 {path} 内文件重名：移送包中每个文件只有一份")
            files = {}
            for entry in entries:
                try:
                    files[entry.filename] = z.read(entry)
                except Exception as exc:  # a bad CRC, a truncated entry, zlib.error: they share no base but Exception
                    raise InputError(f"{path}: {entry.filename} is damaged in the zip ({type(exc).__name__})",
                                     zh=f"压缩包 {path} 内的文件 {entry.filename} 损坏") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise InputError(f"{path} is not a readable zip ({type(exc).__name__})", zh=f"压缩包 {path} 无法读取") from None
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):  # the API's zip: FOLDER/name
        return {name.split("/", 1)[1]: content for name, content in files.items()}
    return files


def _read_folder(path: Path) -> dict[str, bytes]:
    """A package folder's files. A symbolic link (or a pipe, a device) is refused, not followed: the
    receiver checks what was handed over, never a file elsewhere on their machine that a link names."""
    entries = sorted(path.rglob("*"))
    for entry in entries:
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            raise InputError(f"{entry} is not a plain file or folder (a link, a pipe...); a package holds plain files only",
                             zh=f"移送包内含链接或特殊文件：{entry}；移送包只含普通文件")
    files = [entry for entry in entries if entry.is_file()]
    if sum(entry.stat().st_size for entry in files) > _MAX_PACKAGE_BYTES:
        raise InputError(f"{path} holds more than {_MAX_PACKAGE_BYTES >> 20} MiB; not a police package",
                         zh=f"移送包过大：{path} 超过 {_MAX_PACKAGE_BYTES >> 20} MiB")
    return {entry.relative_to(path).as_posix(): entry.read_bytes() for entry in files}


def _manifest_shape(document: Any) -> str | None:
    """What makes ``document`` not a package manifest (``build_package``'s shape), None when it is one.

    >>> _manifest_shape({"ring_id": "R-1", "files": [{"name": "a.csv", "bytes": 1}], "data_digest": {"sha256": "0"}})
    "files[0]: 'sha256' is not text"
    >>> _manifest_shape({"ring_id": "R-1", "files": [], "data_digest": "0"})
    "'data_digest' is not an object with a 'sha256' text"
    """
    if not isinstance(document, dict):
        return "not a JSON object"
    if not isinstance(document.get("ring_id"), str):
        return "'ring_id' is not text"
    listed = document.get("files")
    if not isinstance(listed, list):
        return "'files' is not a list"
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict):
            return f"files[{i}] is not an object"
        for name, kind in (("name", str), ("sha256", str), ("bytes", int)):
            if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
                return f"files[{i}]: {name!r} is not {'text' if kind is str else 'a whole number'}"
    names = [entry["name"] for entry in listed]
    if len(set(names)) != len(names):
        return "'files' lists a name twice"
    digest = document.get("data_digest")
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str):
        return "'data_digest' is not an object with a 'sha256' text"
    return None


def verify_package(files: dict[str, bytes], key: Ed25519PublicKey | None = None) -> Verdict:
    """Check a package: the signature of ``manifest.json`` (by ``key``, else by the key the package
    bundles, which proves integrity only), every listed file's size and SHA-256, no file missing or
    added, ``manifest.sha256`` saying what ``manifest.json`` says, and the data digest in the manifest
    and in the footer of every page of the PDF."""
    verdict = Verdict(files=len(files), bundled_key=key is None)
    problems = verdict.problems
    if MANIFEST not in files:
        problems.append(Problem(MANIFEST, "缺少清单文件", "the manifest is missing"))
        return verdict
    try:
        manifest = json.loads(files[MANIFEST])
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser's stack
        problems.append(Problem(MANIFEST, "清单无法读取（不是 JSON）", "not a package manifest (not JSON)"))
        return verdict
    wrong = _manifest_shape(manifest)
    if wrong is not None:
        problems.append(Problem(MANIFEST, f"清单格式不符：{wrong}", f"not a package manifest: {wrong}"))
        return verdict
    listed = {f["name"]: f for f in manifest["files"]}
    verdict.ring_id = manifest["ring_id"]
    signature = _signature_problems(files, key, verdict)
    problems.extend(signature)
    for name, entry in sorted(listed.items()):
        if name not in files:
            problems.append(Problem(name, "清单所列文件缺失", "listed in the manifest but missing"))
        elif len(files[name]) != entry.get("bytes") or hashlib.sha256(files[name]).hexdigest() != entry.get("sha256"):
            problems.append(Problem(name, "文件与清单中的 SHA-256 摘要不符（已被改动）", "SHA-256 differs from the manifest's"))
    for name in sorted(set(files) - set(listed) - set(_NOT_LISTED)):
        problems.append(Problem(name, "清单中没有此文件（被添加）", "not listed in the manifest (added)"))
    for name in (PDF, PUBLIC_KEY):
        if name not in listed:
            problems.append(Problem(name, "清单未列出此必备文件", "a package lists this file; the manifest does not"))
    if files.get(MANIFEST_SHA256) != _sha256sum_lines(manifest["files"]).encode():
        problems.append(Problem(MANIFEST_SHA256, "与 manifest.json 不一致或缺失", "missing, or not what manifest.json lists"))
    # The PDF is parsed only once it is authenticated (the manifest signed, the PDF's digest the
    # manifest's): a forged or damaged file never reaches the parser on the receiver's machine.
    pdf_authentic = not signature and PDF in listed and PDF not in {p.file for p in problems}
    problems.extend(_digest_problems(files, manifest, listed, pdf_authentic))
    return verdict


def _signature_problems(files: dict[str, bytes], key: Ed25519PublicKey | None, verdict: Verdict) -> list[Problem]:
    if key is None:
        if PUBLIC_KEY not in files:
            return [Problem(PUBLIC_KEY, "缺少公钥（可用 --key 指定）", "no public key in the package (give one with --key)")]
        try:
            key = load_public_pem(files[PUBLIC_KEY])
        except InputError:
            return [Problem(PUBLIC_KEY, "公钥无法读取", "not an Ed25519 public key in PEM")]
    verdict.key_fingerprint = fingerprint(key)
    if SIGNATURE not in files:
        return [Problem(SIGNATURE, "缺少签名文件", "the signature is missing")]
    if signature_holds(key, files[SIGNATURE], files[MANIFEST]):
        return []
    bundled = files.get(PUBLIC_KEY)
    if not verdict.bundled_key and bundled is not None and bundled != public_pem(key).encode():
        return [Problem(SIGNATURE, "签名不是由所给公钥签署：包内附带的是另一把密钥（来源不符）",
                        "not signed by the given key: the package bundles another key (not from the expected sender)")]
    return [Problem(SIGNATURE, "签名核验失败：清单被改动或签名被替换", "the signature does not verify: the manifest was "
                    "changed or the signature replaced")]


def _digest_problems(files: dict[str, bytes], manifest: dict[str, Any], listed: dict[str, Any],
                     pdf_authentic: bool) -> list[Problem]:
    digest = data_digest({name: content for name, content in files.items() if name in listed})
    problems = []
    if manifest["data_digest"]["sha256"] != digest:
        problems.append(Problem(MANIFEST, "清单中的数据清单摘要与文件不符", "its data digest is not the files' data digest"))
    if not pdf_authentic:
        return problems
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(files[PDF]))
        others = sum(len(content) for name, content in files.items() if name != PDF)
        drawn = _drawn_bytes(reader.pages, _MAX_PDF_CONTENT + 2 * others)
        if drawn is not None:
            return [*problems, Problem(PDF, f"PDF 的页面内容超过 {drawn}，不是线索移送函",
                                       f"the PDF's pages draw more than {drawn}: not a referral letter")]
        pages = [page.extract_text() for page in reader.pages]
    except Exception as exc:  # a damaged PDF fails anywhere in the parser, with any exception; it is refused, not a defect
        return [*problems, Problem(PDF, f"PDF 无法读取（{type(exc).__name__}）", "the PDF cannot be read")]
    # Footers show the digest the manifest signed: a data file changed after signing is named by its own
    # SHA-256 line above, and does not make the genuine letter look forged.
    for number, text in enumerate(pages, 1):
        if manifest["data_digest"]["sha256"] not in text:
            problems.append(Problem(PDF, f"第 {number} 页页脚的数据清单摘要与文件不符",
                                    f"page {number}'s footer does not show the files' data digest"))
    if not pages:
        problems.append(Problem(PDF, "PDF 没有页面", "the PDF has no page"))
    return problems


_MAX_PAGE_CONTENT = 512 << 10
"""The most content one page of a referral letter draws, in bytes (ours: at most some 42 KB)."""
_MAX_PDF_CONTENT = 24 << 20
"""The most content all pages draw together beyond twice the size of the package's other files (a
claim's row draws some 1.5 KB and takes some 3 KB in the data files). Text extraction costs about a
second a megabyte of drawing operators, and pages may share one stream: a forger's 1.5 MB file of
5,000 pages drawing one 700 KB stream each kept verify busy for an hour. Signed with a key the
package itself bundles, anyone's PDF reaches this check, so its work is bounded by the package's
size before it is read."""


def _drawn_bytes(pages: Any, limit: int) -> str | None:
    """None if ``pages`` draw no more than a referral letter does, else the limit they pass."""
    total = 0
    for page in pages:
        content = page.get_contents()
        size = 0 if content is None else len(content.get_data())
        size += _forms_bytes(page.get("/Resources"), _MAX_PAGE_CONTENT - size)
        if size > _MAX_PAGE_CONTENT:
            return f"{_MAX_PAGE_CONTENT >> 10} KB a page"
        total += size
        if total > limit:
            return f"{limit >> 20} MB in all"
    return None


def _forms_bytes(resources: Any, budget: int, depth: int = 0) -> int:
    """What the form XObjects of ``resources`` draw (text extraction reads a form each time a page
    draws it, and a form may draw others), counted until it passes ``budget``."""
    if depth > 8:  # forms inside forms deeper than a letter has: counted as over
        return budget + 1
    forms = (resources.get_object() or {}).get("/XObject") if resources is not None else None
    total = 0
    for form in (forms.get_object() or {}).values() if forms is not None else ():
        form = form.get_object()
        if form.get("/Subtype") != "/Form":
            continue
        total += len(form.get_data()) + _forms_bytes(form.get("/Resources"), budget - total, depth + 1)
        if total > budget:
            break
    return total


def network_svg(graph: dict[str, list[dict[str, Any]]], *, size: int = 900) -> str:
    """A static picture of the ring's network (spring layout, seeded), coloured by node type; its texts
    are XML (``_svg_text``), as fpdf2 parses it for the referral letter."""
    g: nx.Graph[str] = nx.Graph()
    g.add_nodes_from(n["id"] for n in graph["nodes"])
    g.add_edges_from((e["source"], e["target"]) for e in graph["edges"])
    position = nx.spring_layout(g, seed=1, k=1.5 / math.sqrt(max(len(g), 1))) if len(g) else {}
    margin, legend = 40, 150
    xs = [p[0] for p in position.values()] or [0.0]
    ys = [p[1] for p in position.values()] or [0.0]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0

    def xy(node: str) -> tuple[float, float]:
        # stretched to the picture, right of the legend, so a tight layout still fills the page
        x, y = position[node]
        return (legend + (x - min(xs)) / span_x * (size - legend - 2 * margin),
                margin + (y - min(ys)) / span_y * (size - 2 * margin))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
             'font-family="sans-serif" font-size="10">', '<rect width="100%" height="100%" fill="white"/>']
    for e in graph["edges"]:
        (x1, y1), (x2, y2) = xy(e["source"]), xy(e["target"])
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#999" '
                     f'stroke-width="{1 + min(e["claims"], 10) / 3:.1f}"><title>{_svg_text(e["label_zh"])}</title></line>')
    for n in graph["nodes"]:
        x, y = xy(n["id"])
        radius = 9 if n.get("member", True) else 5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{vocab.NODE_TYPES[n["type"]].colour}">'
                     f'<title>{_svg_text(n["id"])}</title></circle>')
        parts.append(f'<text x="{x + 11:.1f}" y="{y + 3:.1f}">{_svg_text(str(n["label"]))}</text>')
    for i, term in enumerate(vocab.NODE_TYPES.values()):
        parts.append(f'<circle cx="{margin}" cy="{12 + i * 14}" r="5" fill="{term.colour}"/>'
                     f'<text x="{margin + 9}" y="{15 + i * 14}">{term.zh}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _svg_text(text: str) -> str:
    return html.escape(xml_text(text))


def _members(store: GraphStore, book: RingBook, ring_id: str, detail: dict[str, Any],
             masker: Masker) -> list[dict[str, Any]]:
    unmasked = book.detail(ring_id)
    assert unmasked is not None  # the ring's ``detail`` was just read from the same book
    raw = unmasked["members"]
    rows = []
    for shown, member in zip(detail["members"], raw):
        attributes = store.entity(member["type"], member["id"]) or {}
        attributes = masker.entity(member["type"], attributes)
        rows.append({"type": member["type"], "type_zh": vocab.NODE_TYPES[member["type"]].zh, "id": shown["id"],
                     "role": member["role"], "role_zh": vocab.MEMBER_ROLES[member["role"]].zh,
                     "name": attributes.get("name") or shown["label"], "id_number": attributes.get("id_number"),
                     "gender": attributes.get("gender"), "birth_date": attributes.get("birth_date"),
                     "phone": attributes.get("phone"), "address": attributes.get("address"),
                     "region_code": attributes.get("region_code"), "claims": member["claims"],
                     "fund_amount": member["fund_amount"]})
    return rows


def _claim_row(claim: dict[str, Any], masker: Masker, intermediaries: set[str]) -> dict[str, Any]:
    row = dict(claim)
    row["contact_phone"] = masker.value("phone", row.get("contact_phone"))
    row["person_id"] = masker.node_id("person", row["person_id"])
    if row.get("agent_id"):
        agent_type = "intermediary" if row["agent_id"] in intermediaries else "person"
        row["agent_id"] = masker.node_id(agent_type, row["agent_id"])
    row["total_amount"] = float(row["total_amount"]) if row.get("total_amount") is not None else None
    row["fund_amount"] = float(row["fund_amount"]) if row.get("fund_amount") is not None else None
    return row


def _summary(detail: dict[str, Any], claims: list[dict[str, Any]], generated_by: str) -> dict[str, Any]:
    persons = [m for m in detail["members"] if m["type"] == "person"]
    # The institutions its findings name, and those where its claims were made: a broker's ring found by
    # his phone and account names no hospital, yet the letter to the police must say where the stays were.
    institutions = list(dict.fromkeys([m["id"] for m in detail["members"] if m["type"] == "institution"]
                                      + sorted({c["institution_id"] for c in claims if c.get("institution_id")})))
    status = detail["casework"]["disposition"]["status"]
    why = "；".join(e["detail"] for e in detail["evidence"][:3])
    return {
        "线索编号": detail["id"], "团伙类型": f"{vocab.PATTERNS[detail['pattern']].zh} ({detail['pattern']})",
        "可疑度": detail["score"], "涉及人数": len(persons), "涉及机构": "、".join(institutions),
        "涉案结算笔数": len(claims), "涉及统筹基金金额（元）": detail["fund_amount"],
        "首次发生": detail["first_seen"], "最近发生": detail["last_seen"], "所在区划": "、".join(detail["regions"]),
        "处置状态": f"{vocab.DISPOSITIONS[status].zh} ({status})" if status in vocab.DISPOSITIONS else status,
        "主要依据": why,
        "生成时间": datetime.now().astimezone().isoformat(timespec="seconds"), "生成人": generated_by,
    }


def _csv(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([zh for _, zh in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(k)) for k, _ in columns])
    return ("\ufeff" + out.getvalue()).encode()  # BOM: Excel opens Chinese CSV right


def _csv_cell(value: Any) -> Any:
    """A CSV has no cell types, so text that a spreadsheet would run gets a leading ``'`` (OWASP's
    advice; Excel shows it as text). Numbers, negative ones too, are written as numbers.

    >>> _csv_cell("=1+2"), _csv_cell("@SUM(A1)"), _csv_cell("-5"), _csv_cell(-5.0), _csv_cell(None)
    ("'=1+2", "'@SUM(A1)", "'-5", -5.0, '')
    """
    if value is None:
        return ""
    return "'" + value if reads_as_formula(value) else value


def _xlsx(summary: dict[str, Any], members: list[dict[str, Any]], claims: list[dict[str, Any]],
          evidence: list[dict[str, Any]], edges: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook opens on its one worksheet
    sheet.title = "概要"
    sheet.append(["项目", "内容"])
    for k, v in summary.items():
        append_row(sheet, [k, v])
    for title, columns, rows in (("成员", _MEMBER_COLUMNS, members), ("结算明细", _CLAIM_COLUMNS, claims),
                                 ("证据", _EVIDENCE_COLUMNS, evidence), ("关系", _EDGE_COLUMNS, edges)):
        sheet = book.create_sheet(title)
        sheet.append([zh for _, zh in columns])
        for row in rows:
            append_row(sheet, [row.get(k) for k, _ in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _graphml(graph: dict[str, list[dict[str, Any]]]) -> bytes:
    """The ring's network as GraphML; ids and labels as XML can hold them (``xml_text``)."""
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for n in graph["nodes"]:
        g.add_node(xml_text(n["id"]), type=n["type"], label=xml_text(str(n["label"])),
                   member=bool(n.get("member", True)), degree=n["degree"])
    for e in graph["edges"]:
        g.add_edge(xml_text(e["source"]), xml_text(e["target"]), type=e["type"], label=e["label"], claims=e["claims"],
                   fund_amount=float(e["fund_amount"]), first=e["first"] or "", last=e["last"] or "")
    out = io.BytesIO()
    nx.write_graphml(g, out)
    return out.getvalue()


def _report_html(summary: dict[str, Any], members: list[dict[str, Any]], claims: list[dict[str, Any]],
                 evidence: list[dict[str, Any]], svg: str) -> str:
    def table(columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> str:
        head = "".join(f"<th>{html.escape(zh)}</th>" for _, zh in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape('' if r.get(k) is None else str(r.get(k)))}</td>"
                                        for k, _ in columns) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    facts = "".join(f"<li><b>{html.escape(e['kind'])}</b>（强度 {e['strength']}）：{html.escape(e['detail'])}</li>"
                    for e in evidence)
    rel_legend = "、".join(f"{zh}" for _, zh in NETWORK_RELATIONSHIPS.values())
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>线索移送 {html.escape(str(summary['线索编号']))}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}}
td,th{{border:1px solid #bbb;padding:2px 6px}}th{{background:#eee}}@media print{{svg{{max-width:100%}}}}</style></head>
<body><h1>医保基金欺诈线索移送报告</h1>
{table([("k", "项目"), ("v", "内容")], [{"k": k, "v": v} for k, v in summary.items()])}
<h2>关系网络</h2>{svg}<p style="font-size:11px">关系类型：{html.escape(rel_legend)}</p>
<h2>证据</h2><ol>{facts}</ol>
<h2>涉案人员及对象</h2>{table(_MEMBER_COLUMNS, members)}
<h2>涉案结算明细（{len(claims)} 笔）</h2>{table(_CLAIM_COLUMNS, claims)}
</body></html>"""
