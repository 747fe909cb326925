"""Phone numbers as the one key a ``Phone`` node has, however an export writes them.

One line is written many ways: ``+86 138-0013-8000``, ``0086 13800138000``, ``0571-8888 8888``,
``(0571)88888888``, ``+86 571 8888 8888``, ``0571-88888888转123``. Two persons who share a phone
are linked only if both are given the same key, so each form is read into it:

- a Chinese number as dialled inside China, digits only: a mobile ``13800138000``, a landline
  with its area code ``057188888888``, a local number written without one ``88888888``;
- a number of another country, ``+`` and its digits (E.164): ``+85291234567``;
- an extension after a ``-``: ``057188888888-123`` (a switchboard's desks are not one phone).

Reading the written forms (which digits are a country code, an area code, an extension; how long a
Chinese number of each kind is) is Google's libphonenumber, in its Python port ``phonenumbers``: its
metadata is kept up to date by its maintainers, which a table of area codes of ours would not be.
It costs about 12 µs a value, so the forms that need no reading, a mobile's or a domestic number's
digits with or without +86 and separators (nearly every value of an export), are keyed in Arrow at
column speed; the library reads the rest, each distinct value once.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["phone_key", "phone_keys", "is_phone_key", "PHONE_KEY_PATTERN"]

PHONE_KEY_PATTERN = r"(?:[0-9]{7,12}|\+[0-9]{8,15})(?:-[0-9]{1,6})?"
"""What a key looks like; a value that is not one after reading is not a phone (ingest rejects its row)."""
_KEY_RE = re.compile(PHONE_KEY_PATTERN)

_MOBILE = r"^1[3-9][0-9]{9}$"
"""A Chinese mobile's 11 digits (13x-19x); +86 10 1234 5678 has 11 digits after 86 and is Beijing's 010."""
_PLAIN = r"^\+?[0-9][0-9 ()\-]*$"
"""Digits and the separators exports put between them: nothing the library must read."""
_EXTENSION_WORDS = re.compile(r"转|分机|内线|ext\.?|x|#|,", re.IGNORECASE)
_READABLE = re.compile(r"^[0-9 ()\-+]*(?:(?:转|分机|内线|ext\.?|x|#|,)\s*[0-9]{1,6})?$", re.IGNORECASE)
"""What is given to the library: a number and at most an extension. Anything else (a note, a second
number after a slash, a float written as ``1.38e+10`` or ``13800138000.0``) is no phone: libphonenumber would find
a number inside much of it, and a key made from half a text links strangers."""
_DASH_EXTENSION = re.compile(r"^(.*[0-9])\s*[-–—]\s*([0-9]{1,6})$")
"""``0571-88888888-123``: a dash before an extension, which the library reads as more digits. Read so
when what is before the dash is a whole number (a valid one, or a local number of 7 or 8 digits), so
that 0571-8888-8888 stays one number and a key (``057188888888-123``) reads as itself."""


def phone_key(text: str | None) -> str | None:
    """The key of one written phone; ``None`` when it holds no digit (无, -, N/A: no phone).

    A text that is not a phone is returned as written: ``is_phone_key`` tells it apart.

    >>> [phone_key(t) for t in ("+86 138-0013-8000", "0571-8888 8888", "+86 571 8888 8888", "(010)12345678")]
    ['13800138000', '057188888888', '057188888888', '01012345678']
    >>> [phone_key(t) for t in ("0571-88888888转123", "0571-88888888-123", "+852 9123 4567", "无")]
    ['057188888888-123', '057188888888-123', '+85291234567', None]
    >>> [phone_key(t) for t in ("010-12345678-9", "010-1234-5678", "8888-6666-12", "8888-6666", "057188888888-123")]
    ['01012345678-9', '01012345678', '88886666-12', '88886666', '057188888888-123']
    >>> phone_key("1.38e+10"), is_phone_key(phone_key("1.38e+10"))
    ('1.38e+10', False)
    >>> phone_key("１３８－００１３－８０００"), phone_key("13800138000\u200b")
    ('13800138000', '13800138000')
    """
    if text is None:
        return None
    # As ingest has it before keying (a search box gets full-width digits from a Chinese IME, and invisible
    # characters from a pasted chat message).
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    return phone_keys(pa.chunked_array([[text.strip()]], pa.string()))[0].as_py()


def is_phone_key(value: str) -> bool:
    """Whether ``value`` has the shape of a key ``phone_key`` makes."""
    return _KEY_RE.fullmatch(value) is not None


def phone_keys(written: pa.ChunkedArray) -> pa.ChunkedArray:
    """``phone_key`` of each value of a column (trimmed text, NFKC'd; null or "" when missing)."""
    column = written.combine_chunks()
    # A mobile's 11 digits as they are: most values, left alone after one cheap match.
    todo = pc.fill_null(pc.invert(pc.or_(pc.equal(column, ""), pc.match_substring_regex(column, _MOBILE))), False)
    if pc.any(todo).as_py():
        column = pc.replace_with_mask(column, todo, _keyed(pc.filter(column, todo)))
    return pa.chunked_array([pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)])


def _keyed(written: pa.Array) -> pa.Array:
    """``phone_key`` of values that are not a mobile's 11 digits as written; "" for no digit."""
    digits = pc.replace_substring_regex(written, r"[^0-9]", "")
    plain = pc.match_substring_regex(written, _PLAIN)
    international = pc.or_(pc.starts_with(written, "+"), pc.starts_with(digits, "00"))
    national = pc.replace_substring_regex(digits, r"^(?:86|0086)(1[3-9][0-9]{9})$", r"\1")
    mobile = pc.match_substring_regex(national, _MOBILE)
    # A '+' or 00 other than +86 is another country's number: +1 415 555 2671 has a mobile's 11 digits.
    foreign_looking = pc.and_(international, pc.invert(pc.match_substring_regex(digits, r"^(?:86|0086)1")))
    fast_mobile = pc.and_(pc.and_(plain, mobile), pc.invert(foreign_looking))
    # Digits alone are a number dialled at home; with separators, a last group may be an extension
    # (010-12345678-9): the library reads those.
    domestic = pc.and_(pc.match_substring_regex(written, r"^[0-9]{7,12}$"), pc.invert(pc.starts_with(digits, "86")))
    keyed = pc.if_else(fast_mobile, national, pc.if_else(domestic, digits, pa.scalar(None, pa.string())))
    to_read = pc.and_(pc.is_null(keyed), pc.not_equal(digits, ""))
    if pc.any(to_read).as_py():
        values = pc.unique(pc.filter(written, to_read))
        read = pa.array([_read(v) for v in values.to_pylist()], pa.string())
        keyed = pc.if_else(to_read, pc.take(read, pc.index_in(written, value_set=values)), keyed)
    return pc.fill_null(keyed, "")


def _read(text: str) -> str:
    """The key libphonenumber reads in ``text``, or ``text`` itself when it is no phone."""
    if not _READABLE.match(text):
        return text
    number = None
    dashed = _DASH_EXTENSION.match(text)
    if dashed:  # an extension after a dash when what is before it is a whole number already
        head = _parsed(dashed[1])
        local = re.fullmatch(r"[1-9][0-9]{6,7}", re.sub(r"[^0-9]", "", dashed[1]))
        if head is not None and (phonenumbers.is_valid_number(head) or local and "+" not in dashed[1]):
            head.extension = dashed[2]
            number = head
    number = number or _parsed(_EXTENSION_WORDS.sub(" ext ", text))
    if number is None:
        return text
    extension = number.extension
    number.extension = None
    if number.country_code == 86:
        key = re.sub(r"[^0-9]", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    else:
        key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    key += f"-{extension}" if extension else ""
    return key if is_phone_key(key) else text


def _parsed(text: str) -> phonenumbers.PhoneNumber | None:
    """A possible number in ``text`` read as dialled in China, else ``None``."""
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None
