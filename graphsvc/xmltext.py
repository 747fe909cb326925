"""The characters XML 1.0 cannot hold, defined once.

Ingest refuses a value holding one (``ingest.validate``), and what writes XML from stored data (the
police package's ``network.svg``, GraphML and workbooks, the monthly workbook) replaces them with
U+FFFD, for data loaded before ingest refused them: one such character makes the whole file
unreadable (fpdf2 cannot parse the SVG for the referral letter, Excel cannot open the workbook).

>>> xml_text("张\\uffff三\\x01"), xml_text("\\ud800a\\tb")
('张\\ufffd三\\ufffd', '\\ufffda\\tb')
"""

from __future__ import annotations

import re

__all__ = ["XML_UNFIT", "xml_text"]

XML_UNFIT = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
"""A regex character class's body: the C0 controls but tab and line breaks, and the noncharacters
U+FFFE and U+FFFF (other noncharacters are legal XML). Lone surrogates (U+D800 to U+DFFF) are not
XML either, but they are not UTF-8 and Arrow refuses them when it reads a file, so only
``xml_text`` needs them: a Python string can hold them."""
_UNFIT = re.compile(f"[{XML_UNFIT}\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML cannot hold replaced by U+FFFD (visible, not silently gone)."""
    return _UNFIT.sub("\ufffd", text)
