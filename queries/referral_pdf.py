"""The referral letter (线索移送书) of a police package as a PDF, in Chinese with an embedded CJK font.

``referral_pdf`` lays out what ``queries.export.build_package`` already computed for the exporting
role (the masked members, the settlement rows, the Chinese evidence sentences, the network
picture): it reads no data itself, so the PDF masks exactly what the other files mask. Pages: a
cover with the fields the receiving side fills in (接收单位, 案件编号), the evidence, the network
picture, the members and the settlement detail. Every page's footer carries the package's *data
digest* (``queries.export.data_digest``: the SHA-256 of the ``sha256sum`` lines of every file but
``report.pdf`` and the ``manifest.*`` files), which the manifest and its signature then cover, so a
printed page can be tied to the signed package it came from.

The font is WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``, which ``scripts/setup`` installs):
a TrueType font, which fpdf2 embeds as a subset with an Identity-H encoding that every PDF reader
and text extractor maps back to Unicode (Noto CJK, with CFF outlines, embeds too but its text comes
out of pypdf and pdfminer garbled or empty, and the police copy ids out of the letter).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import WrapMode

from graphsvc import vocab
from graphsvc.errors import GraphsvcError

__all__ = ["FONT_FILES", "DIGEST_COVERS_ZH", "referral_pdf", "font_file"]

FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
              Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"))
"""TrueType CJK fonts, the first found is embedded (Debian fonts-wqy-microhei, fonts-wqy-zenhei)."""

DIGEST_COVERS_ZH = "数据清单摘要 SHA-256（覆盖除 report.pdf、manifest.json、manifest.sha256、manifest.sig 外的全部文件）"
"""What the footer's hash is, as every page says it."""

_FAMILY = "sans-serif"
"""The embedded font's family name: network.svg asks for sans-serif, and fpdf2 draws SVG text in the
family of that name, so the picture's Chinese labels come out in the CJK font too."""
_MEMBERS = [("type_zh", "类型", 14), ("id", "编号", 26), ("role_zh", "角色", 18), ("name", "姓名/名称", 22),
            ("id_number", "身份证号", 34), ("gender", "性别", 9), ("birth_date", "出生日期", 18), ("phone", "电话", 22),
            ("address", "地址", 50), ("region_code", "区划", 13), ("claims", "笔数", 11), ("fund_amount", "统筹金额", 20)]
_CLAIMS = [("settlement_id", "结算编号", 26), ("kind", "类别", 14), ("person_id", "参保人", 22), ("card_id", "卡号", 22),
           ("institution_id", "机构", 16), ("prescriber_id", "医师", 16), ("agent_id", "代办人", 18),
           ("contact_phone", "联系电话", 22), ("device_id", "设备", 18), ("start_time", "开始时间", 27),
           ("end_time", "结束时间", 27), ("total_amount", "总金额", 16), ("fund_amount", "统筹支付", 16)]
_GREY = (235, 235, 235)
_CELL_LINES = 10
"""The most lines one table cell wraps to. A value that would wrap to more (a 1,000-character name, which
ingest allows) is shortened with ``…``: fpdf2 cannot split a table row across pages and refuses one
taller than a page, and the full value is in the package's data files, as the letter says below it."""
_MM_PER_PT = 25.4 / 72
SHORTENED_NOTE = ("注：以“…”结尾的内容过长已截断，完整内容见数据文件。"
                  "Cells ending in … are shortened; the full values are in the data files.")
"""Said under a table one of whose cells was shortened."""


def font_file() -> Path:
    """The CJK font to embed; a clear error where none is installed."""
    found = next((path for path in FONT_FILES if path.exists()), None)
    if found is None:
        raise GraphsvcError("the referral PDF needs a Chinese TrueType font: install Debian's fonts-wqy-microhei "
                            "(sudo apt-get install fonts-wqy-microhei; scripts/setup does as root)",
                            zh="移送 PDF 需要中文 TrueType 字体：请安装 Debian 的 fonts-wqy-microhei"
                               "（sudo apt-get install fonts-wqy-microhei；以 root 运行 scripts/setup 也会安装）")
    return found


class _Letter(FPDF):
    def __init__(self, digest: str, ring_id: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.digest = digest
        self.ring_id = ring_id
        self.add_font(_FAMILY, fname=str(font_file()))
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(f"医保基金欺诈线索移送书 {ring_id}")
        self.set_creator("graphsvc")

    def footer(self) -> None:
        # The digest on a line of its own, never wrapped: a reader (or a test) finds all 64 digits together.
        self.set_y(-15)
        self.set_font(_FAMILY, size=6.5)
        self.set_text_color(90, 90, 90)
        self.cell(0, 3.5, DIGEST_COVERS_ZH, align="C", new_x="LMARGIN", new_y="NEXT")
        self.cell(0, 3.5, f"{self.digest}    {self.ring_id}    第 {self.page_no()} / {{nb}} 页", align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str) -> None:
        self.set_font(_FAMILY, size=13)
        self.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(_FAMILY, size=9)

    def paragraph(self, text: str, size: float = 9) -> None:
        self.set_font(_FAMILY, size=size)
        self.multi_cell(0, size * 0.55, text, wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")

    def grid(self, columns: Sequence[tuple[str, str, float]], rows: list[dict[str, Any]], size: float = 6.5) -> None:
        self.set_font(_FAMILY, size=size)
        shortened = False
        with self.table(col_widths=[w for _, _, w in columns], width=sum(w for _, _, w in columns), align="LEFT",
                        text_align="LEFT", wrapmode=WrapMode.CHAR, line_height=size * 0.5, padding=0.6,
                        headings_style=FontFace(emphasis="", fill_color=_GREY)) as table:
            table.row([zh for _, zh, _ in columns])
            for row in rows:
                texts = [_label(key, row.get(key)) for key, _, _ in columns]
                cells = [_shortened(text, width, size) for text, (_, _, width) in zip(texts, columns)]
                shortened = shortened or cells != texts
                table.row(cells)
        if shortened:
            self.paragraph(SHORTENED_NOTE, size=8)


def referral_pdf(summary: dict[str, Any], detail: dict[str, Any], members: list[dict[str, Any]],
                 claims: list[dict[str, Any]], svg: str, digest: str) -> bytes:
    """The referral letter: ``summary`` (``build_package``'s 概要), ``detail`` (the masked ring with its
    Chinese evidence), ``members`` and ``claims`` (the masked rows of the data files), ``svg`` (network.svg)
    and ``digest`` (the data digest every footer shows)."""
    pdf = _Letter(digest, detail["id"])
    pdf.add_page()
    _cover(pdf, summary, detail, claims)
    pdf.add_page()
    pdf.heading("一、主要证据 Evidence")
    for i, item in enumerate(detail["evidence"], 1):
        label = vocab.FINDING_KINDS[item["kind"]].zh if item["kind"] in vocab.FINDING_KINDS else item["kind"]
        pdf.paragraph(f"{i}. 【{label}】（强度 {item['strength']}）{item['detail']}")
        pdf.ln(1.5)
    pdf.add_page()
    pdf.heading("二、关系网络 Network")
    pdf.image(io.BytesIO(svg.encode()), x=pdf.l_margin, w=pdf.epw)
    pdf.paragraph("图例：圆点为参保人、医保卡、机构、医师、中介、电话、设备、账户等对象，连线为就医、持卡、代办等关系，"
                  "线越粗结算笔数越多。完整关系见数据文件。", size=8)
    pdf.add_page(orientation="L")
    pdf.heading(f"三、涉案人员及对象 Members（{len(members)}）")
    pdf.grid(_MEMBERS, members)
    pdf.add_page(orientation="L")
    pdf.heading(f"四、涉案结算明细 Settlements（{len(claims)} 笔）")
    pdf.grid(_CLAIMS, claims)
    return bytes(pdf.output())


def _cover(pdf: _Letter, summary: dict[str, Any], detail: dict[str, Any], claims: list[dict[str, Any]]) -> None:
    pdf.set_font(_FAMILY, size=20)
    pdf.cell(0, 14, "医保基金欺诈线索移送书", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, size=10)
    pdf.cell(0, 6, "Referral of suspected medical-insurance fund fraud", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    starts = [str(c["start_time"])[:10] for c in claims if c.get("start_time")]
    period = f"{min(starts)} 至 {max(starts)}" if starts else "（无结算）"
    pattern = vocab.PATTERNS[detail["pattern"]]
    fields = [
        ("接收单位 Receiving unit", ""), ("案件编号 Case number", ""),
        ("线索编号 Ring", detail["id"]), ("团伙类型 Pattern", f"{pattern.zh}（{pattern.en}）"),
        ("涉及统筹基金金额（元）Fund", _text(detail["fund_amount"])), ("所在区划 Regions", summary["所在区划"] or "—"),
        ("涉及机构 Institutions", summary["涉及机构"] or "—"), ("结算期间 Period of the claims", period),
        ("涉及人数 Persons", _text(summary["涉及人数"])), ("涉案结算笔数 Settlements", _text(summary["涉案结算笔数"])),
        ("可疑度 Score", _text(summary["可疑度"])), ("处置状态 Disposition", _text(summary["处置状态"])),
        ("生成时间 Generated", _text(summary["生成时间"])), ("生成人 Generated by", _text(summary["生成人"])),
    ]
    pdf.set_font(_FAMILY, size=10)
    values = [_shortened(value, 120, 10) for _, value in fields]  # many regions or institutions: as in ``grid``
    with pdf.table(col_widths=(60, 120), text_align="LEFT", wrapmode=WrapMode.CHAR, line_height=6,
                   first_row_as_headings=False, min_row_height=9) as table:
        for (label, _), value in zip(fields, values):
            row = table.row()
            row.cell(label, style=FontFace(fill_color=_GREY))
            row.cell(value)
    if values != [value for _, value in fields]:
        pdf.paragraph(SHORTENED_NOTE, size=8)
    pdf.ln(8)
    pdf.paragraph("移送单位（盖章）：                                        经办人：                    "
                  "移送日期：        年    月    日", size=10)
    pdf.ln(4)
    pdf.paragraph("本移送书所附数据文件、关系图与本文件的 SHA-256 摘要列于 manifest.json，并以本基金经办机构的 Ed25519 "
                  "密钥签名（manifest.sig）。接收方可用 graphsvc verify 及线下取得的公钥核验。"
                  "The files' SHA-256 digests are listed in manifest.json, signed with the fund office's Ed25519 key "
                  "(manifest.sig); check them with graphsvc verify and the public key received out of band.", size=8)


def _label(key: str, value: Any) -> str:
    """A cell of the letter: a claim's coded kind in Chinese (住院, not inpatient), else ``_text``."""
    if key == "kind" and value in vocab.VALUES["settlement.kind"]:
        return vocab.VALUES["settlement.kind"][value].zh
    return _text(value)


def _text(value: Any) -> str:
    """A cell's text: blank for nothing, dates without their time zone, amounts with two decimals.

    >>> _text(None), _text(1234.5), _text(datetime(2024, 3, 1, 9, 30)), _text("H100")
    ('', '1,234.50', '2024-03-01 09:30:00', 'H100')
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _shortened(text: str, width: float, size: float) -> str:
    """``text`` as at most ``_CELL_LINES`` lines of a cell ``width`` mm wide in ``size`` pt, counting every
    character a full em (a Chinese one is; others are narrower, so the cut is on the safe side); cut with ``…``.

    >>> _shortened("张三", 22, 6.5), len(_shortened("长" * 1000, 22, 6.5)), _shortened("长" * 1000, 22, 6.5)[-2:]
    ('张三', 90, '长…')
    """
    most = max(1, int(width / (size * _MM_PER_PT))) * _CELL_LINES
    return text if len(text) <= most else text[:most - 1] + "…"
