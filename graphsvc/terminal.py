"""Text from outside (a package's manifest, a file's name) made safe to print on a terminal.

A terminal obeys the control characters in what it is given: ``ESC[8m`` hides what follows,
``ESC[1A ESC[2K`` erases the line above, ``\\r`` and ``\\n`` start a line of the sender's choosing, and
the bidirectional overrides (U+202E…) show text in another order than it is. What a command prints of
data it did not write goes through ``terminal_text``, which writes each such character as its escape.

>>> terminal_text("R-000009\\x1b[8m")
'R-000009\\\\x1b[8m'
>>> terminal_text("a\\r\\nb\\u202ec 张三")
'a\\\\x0d\\\\x0ab\\\\u202ec 张三'
"""

from __future__ import annotations

import re

__all__ = ["terminal_text"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls (line breaks and tab included), DEL, and the bidirectional marks and overrides."""


def terminal_text(text: str) -> str:
    """``text`` with every control character and bidirectional override written as its escape."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)
