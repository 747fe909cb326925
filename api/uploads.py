"""Uploads to ingest: the request body streamed into a private folder, zips unpacked within limits.

The body is parsed as it arrives with python-multipart (the parser Starlette itself uses),
not through FastAPI's ``UploadFile``: that parses the whole body before the route runs, so
before the caller's key is checked, and spools it to the system temp folder (tmpfs, that is
memory, on many hosts) with no size limit. Here the caller is checked first, each file is
written to its upload folder in 1 MiB writes off the event loop, and ``upload_max_bytes``
holds while the bytes arrive.

A zip is checked from its headers first (the size of its directory, member count, declared
sizes, compression ratio, names), then unpacked member by member in chunks, counting the bytes
again: headers can lie.
Folders inside a zip are flattened to their file names, as before: agencies zip the folder
they exported (``city/persons.csv``) and ingest reads one flat folder; two members with one
file name are refused rather than one silently replacing the other.

A name that is empty, absolute, climbs with ``..``, holds a backslash or a control
character, or is more than a plain file name, is refused with a 422 that names it. Folders
are made 0700 and files 0600 from the start, so no other local account reads an upload.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from fastapi import Request, status
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from graphsvc.config import Settings

if TYPE_CHECKING:  # python_multipart defines its callbacks' TypedDict for type checkers only
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["UploadLimits", "new_upload_folder", "remove_stale_uploads", "receive_files", "unpack_zips", "UPLOAD_BODY"]

FIELD = "files"
_CHUNK = 1 << 20
_RATIO_FLOOR = 1 << 20
"""Members that unpack to less are never refused for their ratio: they cannot exhaust anything,
and a small file of one repeated line compresses far better than a real export."""
_DIRECTORY_ENTRY_BYTES = 4096
"""Most central-directory bytes a zip may spend per file it may hold (a real entry takes some
100): ``zipfile`` parses the whole directory into objects before anything can be counted, and a
directory of millions of empty entries would cost gigabytes of memory."""
_PLAIN_NAME = re.compile(r"[\w.\-() ]+")
"""Letters (Chinese included), digits and ``_ . - ( )`` and spaces: every name an export or a
browser's "(1)" gives, and no character a shell, a path or a terminal treats specially."""
_NAME_BYTES = 200
"""Longest name in UTF-8 bytes: under the 255 a Linux file name may take."""

UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FIELD],
    "properties": {FIELD: {"type": "array", "items": {"type": "string", "format": "binary"},
                           "description": "contract CSV/XLSX/Parquet files, or zips of them"}}}}}}}
"""The request body for OpenAPI: the route reads the body itself, so FastAPI cannot describe it."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_unpacked_bytes: int
    max_ratio: int
    max_files: int

    @classmethod
    def of(cls, settings: Settings) -> UploadLimits:
        return cls(settings.upload_max_bytes, settings.upload_max_unpacked_bytes, settings.upload_max_ratio,
                   settings.upload_max_members)


def _too_large(detail: str) -> ApiError:
    return ApiError(status.HTTP_413_CONTENT_TOO_LARGE, detail, "上传内容超过大小或文件数量限制，未予接收")


def _unprocessable(detail: str, zh: str = "上传的文件无法读取或不完整，未予接收") -> ApiError:
    return ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, detail, zh)


_BAD_NAME_ZH = "上传的文件名不可用：文件名只能含字母、数字、汉字、_ . - ( ) 和空格，且不能重名，请改名后再上传"
"""What a refused file name is told in Chinese (the English names the file and the problem)."""


def _private(path: str, flags: int) -> int:
    """``open`` opener: a new file, 0600 from its creation (``x`` mode refuses an existing one)."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)


def new_upload_folder(home: Path) -> Path:
    """A new folder under ``home/uploads``, both 0700."""
    parent = home / "uploads"
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    parent.chmod(0o700)  # one made by an older version is world-readable
    return Path(tempfile.mkdtemp(prefix=f"upload-{datetime.now():%Y%m%dT%H%M%S}-", dir=parent))


STALE_UPLOAD_S = 24 * 3600
"""An upload folder older than this at start-up belongs to a job cut off by a stop (a job removes its own)."""


def remove_stale_uploads(home: Path, *, sole_server: bool) -> int:
    """Remove upload folders left by jobs a stop cut off; how many. ``sole_server``: no other server
    can use this home (an embedded store has one writer), so every folder there is a cut-off job's
    (they hold personal data: gone at once). Otherwise age decides, since another server may share a
    Neo4j deployment's home and be receiving an upload now."""
    removed = 0
    for folder in (home / "uploads").glob("upload-*"):
        if folder.is_dir() and (sole_server or time.time() - folder.stat().st_mtime > STALE_UPLOAD_S):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _name_problem(name: str) -> str | None:
    """Why ``name`` (a path inside a zip, or an uploaded file's name) is refused, if it is."""
    if not name:
        return "is empty"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        return "holds a control character"
    if "\\" in name:
        return "holds a backslash"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "is absolute"
    if ".." in name.split("/"):
        return "climbs out of its folder (..)"
    return None


def _plain_name(name: str, what: str) -> str:
    """``name`` if it is a plain file name, else a 422 naming it."""
    problem = _name_problem(name)
    if problem is None and (not _PLAIN_NAME.fullmatch(name) or set(name) == {"."}
                            or len(name.encode()) > _NAME_BYTES):
        problem = f"is not a plain file name (letters, digits, _ . - ( ) and spaces, at most {_NAME_BYTES} bytes)"
    if problem:
        raise _unprocessable(f"{what} {name!r} {problem}", _BAD_NAME_ZH)
    return name


class _Receiver:
    """python-multipart callbacks: each part of the ``files`` field becomes a file in the folder.

    The callbacks only queue bytes; ``flush`` (run off the event loop) writes them.
    """

    def __init__(self, folder: Path, limits: UploadLimits) -> None:
        self.folder = folder
        self.limits = limits
        self.names: list[str] = []
        self.pending: list[tuple[BinaryIO, bytes]] = []
        self.finished: list[BinaryIO] = []
        self.current: BinaryIO | None = None
        self.opened: list[BinaryIO] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end}

    def on_part_begin(self) -> None:
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") != FIELD.encode() or b"filename" not in options:
            raise _unprocessable(f"send the files as the multipart form field {FIELD!r}, each with its file name",
                                 f"请把文件放在表单字段 {FIELD} 中上传，每个文件带文件名")
        try:
            name = options[b"filename"].decode("utf-8")
        except UnicodeDecodeError:
            raise _unprocessable(f"the file name {options[b'filename']!r} is not UTF-8", _BAD_NAME_ZH) from None
        _plain_name(name, "the uploaded file")
        if len(self.names) >= self.limits.max_files:
            raise _too_large(f"more than {self.limits.max_files} files in one upload")
        try:
            self.current = open(self.folder / name, "xb", opener=_private)  # noqa: SIM115 (closed by flush)
        except FileExistsError:
            raise _unprocessable(f"two uploaded files are named {name!r}", _BAD_NAME_ZH) from None
        self.opened.append(self.current)
        self.names.append(name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        assert self.current is not None
        self.pending.append((self.current, data[start:end]))

    def on_part_end(self) -> None:
        assert self.current is not None
        self.finished.append(self.current)
        self.current = None

    def flush(self) -> None:
        for file, data in self.pending:
            file.write(data)
        for file in self.finished:
            file.close()
        self.pending, self.finished = [], []

    def close(self) -> None:
        for file in self.opened:
            file.close()


async def receive_files(request: Request, folder: Path, limits: UploadLimits) -> list[str]:
    """Write the ``files`` parts of a multipart body into ``folder``; the names written, in order."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                       f"send multipart/form-data with the files in the field {FIELD!r}",
                       f"请以 multipart/form-data 上传，文件放在字段 {FIELD} 中")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(f"the upload is {int(declared):,} bytes, over the limit of {limits.max_bytes:,}; "
                         "ingest it with the CLI, or raise GRAPHSVC_UPLOAD_MAX_BYTES")
    receiver = _Receiver(folder, limits)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())

    def feed(data: bytes) -> None:
        # Parsing is pure Python (tens of ms a MiB): in the thread pool with the writes, never on
        # the event loop, which would otherwise stall every other request during an upload.
        parser.write(data)
        receiver.flush()

    received, buffered = 0, bytearray()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.max_bytes:  # a body sent without (or under) its length
                raise _too_large(f"the upload is over the limit of {limits.max_bytes:,} bytes; "
                                 "ingest it with the CLI, or raise GRAPHSVC_UPLOAD_MAX_BYTES")
            buffered += chunk
            if len(buffered) >= _CHUNK:
                await run_in_threadpool(feed, bytes(buffered))
                buffered.clear()
        await run_in_threadpool(feed, bytes(buffered))
        parser.finalize()
        await run_in_threadpool(receiver.flush)
    except MultipartParseError as exc:
        raise _unprocessable(f"the multipart body is malformed ({exc})") from None
    finally:
        receiver.close()
    if receiver.current is not None:
        raise _unprocessable(f"the upload ended inside the file {receiver.names[-1]!r}")
    if not receiver.names:
        raise _unprocessable("no files in the upload", "上传内容中没有文件")
    return receiver.names


def unpack_zips(folder: Path, received: list[str], limits: UploadLimits) -> list[str]:
    """Replace each received ``.zip`` in ``folder`` with its files; the names of all files now there.

    The limits hold over the whole upload: files in all, bytes unpacked from all its zips.
    """
    names = [n for n in received if not n.lower().endswith(".zip")]
    present = set(received)
    unpacked = 0
    for zip_name in (n for n in received if n.lower().endswith(".zip")):
        path = folder / zip_name
        _check_directory(zip_name, path, limits)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError):
            raise _unprocessable(f"{zip_name} is not a readable zip file") from None
        with archive:
            members = _checked_members(zip_name, archive, present, len(names), unpacked, limits)
            for info, name in members:
                unpacked = _unpack(zip_name, archive, info, folder / name, unpacked, limits)
                names.append(name)
        path.unlink()
    return names


def _check_directory(zip_name: str, path: Path, limits: UploadLimits) -> None:
    """Refuse a zip whose central directory is too big to parse, from its end record alone.

    The end record is read with ``zipfile``'s own reader (private, and stable since Python 2.6),
    so the size checked is the size ``zipfile`` will then read, Zip64 record included.
    """
    with path.open("rb") as f:
        end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # private: typeshed leaves it out
    size = end[zipfile._ECD_SIZE] if end else 0  # type: ignore[attr-defined]  # private, like _EndRecData
    if size > limits.max_files * _DIRECTORY_ENTRY_BYTES:
        raise _too_large(f"{zip_name}: its directory of {size:,} bytes "
                         f"lists more files than the {limits.max_files} an upload may hold")


def _checked_members(zip_name: str, archive: zipfile.ZipFile, present: set[str], files: int, unpacked: int,
                     limits: UploadLimits) -> list[tuple[zipfile.ZipInfo, str]]:
    """The zip's files and the names they get, if its headers pass every limit; ``present`` (the
    names in the upload folder) gains theirs."""
    members: list[tuple[zipfile.ZipInfo, str]] = []
    for info in archive.infolist():
        path = _member_path(info)
        problem = _name_problem(path)
        if problem:
            raise _unprocessable(f"{zip_name}: the member {path!r} {problem}", _BAD_NAME_ZH)
        if info.is_dir():
            continue
        name = _plain_name(PurePosixPath(path).name, f"{zip_name}: the member")
        if name in present:
            raise _unprocessable(f"{zip_name}: two files are named {name!r} (folders in a zip are flattened)",
                                 _BAD_NAME_ZH)
        if info.flag_bits & 0x1:
            raise _unprocessable(f"{zip_name}: the member {info.filename!r} is encrypted",
                                 "压缩包中的文件已加密，无法读取，请解密后再上传")
        present.add(name)
        members.append((info, name))
    if files + len(members) > limits.max_files:
        raise _too_large(f"{zip_name} holds {len(members)} files; an upload may hold {limits.max_files}")
    declared = unpacked + sum(info.file_size for info, _ in members)
    if declared > limits.max_unpacked_bytes:
        raise _too_large(f"{zip_name} unpacks to {declared:,} bytes, over the limit of {limits.max_unpacked_bytes:,}")
    for info, _ in members:
        _check_ratio(zip_name, info, info.file_size, limits)
    return members


def _member_path(info: zipfile.ZipInfo) -> str:
    """A member's path as its maker meant it (``orig_filename``: before ``zipfile`` cuts it at a NUL).

    Without the zip's UTF-8 flag a name is CP437 by the standard, but Chinese Windows writes
    GBK there and macOS UTF-8: such a name is read as UTF-8 where it decodes so, else GB18030.
    """
    if info.flag_bits & 0x800 or info.orig_filename.isascii():
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _check_ratio(zip_name: str, info: zipfile.ZipInfo, size: int, limits: UploadLimits) -> None:
    if size > _RATIO_FLOOR and size > limits.max_ratio * max(info.compress_size, 1):
        raise _too_large(f"{zip_name}: the member {info.filename!r} unpacks to {size:,} bytes from "
                         f"{info.compress_size:,}, over the ratio of {limits.max_ratio}:1 (a zip bomb?)")


def _unpack(zip_name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, unpacked: int,
            limits: UploadLimits) -> int:
    """Unpack one member in chunks, counting what comes out; the upload's unpacked bytes after it."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "xb", opener=_private) as out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if unpacked + written > limits.max_unpacked_bytes:
                    raise _too_large(f"{zip_name} unpacks to more than {limits.max_unpacked_bytes:,} bytes "
                                     "(more than its headers say)")
                _check_ratio(zip_name, info, written, limits)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise _unprocessable(f"{zip_name}: the member {info.filename!r} could not be unpacked ({exc})") from None
    return unpacked + written
