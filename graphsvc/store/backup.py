"""Backups of a home: the store, the API keys, casework (dispositions, tips), jobs and the audit log.

A backup is a folder: the backend's files (``GraphStore.backup``), the home's ``secret_key``
(masked pseudonyms stay the same after a restore) and ``admin-key`` when present, and
``manifest.json``, written last, with the SHA-256 and size of each file and what the store
held (records per kind, ring ids). A folder without a manifest is a backup that did not finish.

- embedded: ``graph.duckdb``, a copy of the whole store taken in one transaction, so it is
  consistent even while a server writes. The server holds the store, so a backup of a served
  home is taken by the server (``POST /admin/backup``, what ``graphsvc backup`` calls then).
- neo4j: ``casework.json``: records, rings and detection runs, read in one transaction. The
  graph itself is not copied: it comes back by ingesting the folders the manifest lists again
  (loading is idempotent), before the restore, whose rings link to its nodes.

Restore checks every file against the manifest, refuses a home that already has a store unless
forced, and checks the restored store answers with what the manifest says it held.

Not in a backup: rejects files and uploads (inputs, kept where they came from) and the network
index (rebuilt for the restored data). The home's audit write-ahead files stay through a restore:
entries a killed server answered after the backup are stored at the next start, so the audit log
loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, StrictInt, ValidationError

from graphsvc.config import Settings
from graphsvc.errors import GraphsvcError
from graphsvc.files import fsync_path
from graphsvc.signing import KEY_FILE
from graphsvc.store import GraphStore, StoreBusy, open_store

__all__ = ["BackupError", "write_backup", "verify_backup", "restore_backup", "tar_stream", "untar"]

MANIFEST = "manifest.json"
FORMAT = 1
HOME_FILES = ("secret_key", "admin-key", KEY_FILE)
"""Files of the home that are no store but that a restored home needs: the masking secret, the first admin
key, and the key that signs police packages (a restored fund office signs as before, so that receivers
holding its public key still verify what it sends)."""
_CHUNK = 1 << 20


class BackupError(GraphsvcError):
    """The backup could not be written, or is incomplete, damaged or for another backend."""

    summary_zh = "备份无法写入，或不完整、已损坏、属于另一种存储后端"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_private(source: Path, target: Path) -> None:
    """Copy a file created 0600 (secrets, personal data), synced to disk."""
    with source.open("rb") as src, os.fdopen(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
        dst.flush()
        os.fsync(dst.fileno())


def _contents(store: GraphStore) -> dict[str, Any]:
    """What a restore must bring back, to check it did: records per kind, ring ids by rank."""
    return {"records": store.record_counts(), "rings": [r["id"] for r in store.rings()]}


def _backed_up(store: GraphStore, folder: Path) -> dict[str, Any]:
    """``_contents`` of the copy just written into ``folder``, read from the copy itself: the store
    may have changed since the copy's snapshot."""
    if store.backend_name == "embedded":
        from graphsvc.store.embedded import EmbeddedStore

        # Opening it and reading every value also proves the copy is a sound store.
        with EmbeddedStore(folder, read_only=True) as copy:
            copy.check(thorough=True)
            contents = _contents(copy)
        shutil.rmtree(folder / "tmp", ignore_errors=True)
        return contents
    casework = json.loads((folder / "casework.json").read_text(encoding="utf-8"))
    kinds = sorted({r["kind"] for r in casework["records"]})
    return {"records": {k: sum(1 for r in casework["records"] if r["kind"] == k) for k in kinds},
            "rings": [r["ring"]["id"] for r in casework["rings"]]}


def write_backup(store: GraphStore, home: Path, out: Path) -> dict[str, Any]:
    """Back up ``store`` and ``home``'s secrets into the new folder ``out``; returns the manifest."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder; back up into a new folder",
                          zh=f"{out} 已存在且不是空文件夹：请备份到一个新文件夹")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = store.backup(out)
    for name in HOME_FILES:
        if (home / name).is_file():
            _copy_private(home / name, out / name)
            names.append(name)
    contents = _backed_up(store, out)
    for name in names:
        fsync_path(out / name)
    manifest = {
        "format": FORMAT,
        "backend": store.backend_name,
        "created_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "files": {name: {"sha256": _sha256(out / name), "bytes": (out / name).stat().st_size} for name in names},
        "contents": contents,
        "ingested_folders": sorted({r.folder for r in store.ingest_log()}),
    }
    draft = out / (MANIFEST + ".partial")
    draft.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    fsync_path(draft)
    draft.rename(out / MANIFEST)
    fsync_path(out)
    return manifest


class _ListedFile(BaseModel):
    sha256: str
    bytes: StrictInt


class _Contents(BaseModel):
    records: dict[str, int]
    rings: list[str]


class _Manifest(BaseModel):
    """What ``write_backup`` writes and restore reads: a hand-edited or cut manifest is named damaged,
    not met with a KeyError half-way through the restore."""

    format: int
    backend: str
    files: dict[str, _ListedFile]
    contents: _Contents
    ingested_folders: list[str]


def verify_backup(folder: Path) -> dict[str, Any]:
    """The manifest of the backup in ``folder`` once every file it lists is there with its size and
    SHA-256; raises ``BackupError`` saying what is wrong."""
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder: a backup is the folder graphsvc backup writes",
                          zh=f"{folder} 不是文件夹：备份是 graphsvc backup 写出的文件夹")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} has no {MANIFEST}: not a backup, or one that did not finish",
                          zh=f"{folder} 中没有 {MANIFEST}：不是备份，或备份未完成") from None
    except ValueError as exc:
        raise BackupError(f"{folder / MANIFEST} is damaged ({exc})", zh=f"{folder / MANIFEST} 已损坏") from None
    if not isinstance(manifest, dict):
        raise BackupError(f"{folder / MANIFEST} is damaged: not an object", zh=f"{folder / MANIFEST} 已损坏：不是对象")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is a backup of format {manifest.get('format')!r}; this graphsvc reads {FORMAT}",
                          zh=f"{folder} 的备份格式为 {manifest.get('format')!r}，本版本只能读取 {FORMAT}")
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as exc:
        wrong = exc.errors()[0]
        where = ".".join(str(part) for part in wrong["loc"])
        raise BackupError(f"{folder / MANIFEST} is damaged: {where}: {wrong['msg']}",
                          zh=f"{folder / MANIFEST} 已损坏：{where}") from None
    problems = []
    for name, expected in manifest["files"].items():
        path = folder / name
        if Path(name).name != name or name.startswith("."):
            problems.append(f"{name}: not a plain file name")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, the manifest says {expected['bytes']}")
        elif _sha256(path) != expected["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest's")
    if problems:
        raise BackupError(f"the backup in {folder} is damaged: " + "; ".join(problems),
                          zh=f"{folder} 中的备份已损坏：" + "；".join(problems))
    return manifest


def restore_backup(backup: Path, settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """Make ``settings.home`` the backed-up home; returns the manifest.

    Refuses a home that has a store unless ``force``; a running server on it must be stopped first.
    """
    manifest = verify_backup(backup)
    home = Path(settings.home)
    if manifest["backend"] != settings.backend:
        raise BackupError(f"the backup is of a {manifest['backend']} store and {home} is set up for "
                          f"{settings.backend} (GRAPHSVC_BACKEND)",
                          zh=f"备份来自 {manifest['backend']} 存储，而 {home} 设为 {settings.backend}（GRAPHSVC_BACKEND）")
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings.backend == "embedded":
        _restore_embedded(backup, home, force=force)
    else:
        _restore_neo4j(backup, settings, manifest, force=force)
    for name in HOME_FILES:
        if name in manifest["files"]:
            target = home / name
            target.unlink(missing_ok=True)
            _copy_private(backup / name, target)
    with open_store(settings) as store:
        store.check(thorough=True)
        restored = _contents(store)
    if restored != manifest["contents"]:
        raise BackupError(f"the restored store holds {restored}, the backup says {manifest['contents']}",
                          zh=f"恢复后的存储含 {restored}，与备份所记 {manifest['contents']} 不符")
    return manifest


def _restore_embedded(backup: Path, home: Path, *, force: bool) -> None:
    store_file = home / "graph.duckdb"
    if store_file.exists():
        if not force:
            raise BackupError(f"{home} already has a store; pass --force to replace it with the backup",
                              zh=f"{home} 中已有存储；要用备份替换它请加 --force")
        # Opening it takes DuckDB's lock: a server still holding the home must be stopped first,
        # or it would go on writing to the replaced file.
        from graphsvc.store.embedded import EmbeddedStore

        try:
            EmbeddedStore(home, read_only=True).close()
        except StoreBusy:
            raise BackupError(f"a running graphsvc (a server?) holds the store in {home}; stop it, then restore",
                              zh=f"正在运行的 graphsvc（服务器？）占用着 {home} 中的存储：请先停止它再恢复") from None
        except Exception:  # a damaged store is one a restore replaces: nothing in it to keep
            pass
    draft = home / "graph.duckdb.restoring"
    draft.unlink(missing_ok=True)
    _copy_private(backup / "graph.duckdb", draft)
    # A write-ahead file of the replaced store would be replayed into the restored one; the
    # network index of the replaced data could carry the same data version as the backup's.
    (home / "graph.duckdb.wal").unlink(missing_ok=True)
    shutil.rmtree(home / "adjacency", ignore_errors=True)
    draft.rename(store_file)
    fsync_path(home)


def _restore_neo4j(backup: Path, settings: Settings, manifest: dict[str, Any], *, force: bool) -> None:
    from graphsvc.store.neo4j import Neo4jStore

    with open_store(settings) as store:
        assert isinstance(store, Neo4jStore)
        if not force and (store.record_counts() or store.rings()):
            raise BackupError(f"the Neo4j store of {settings.home} already has records or rings; pass --force to "
                              "replace them with the backup's",
                              zh=f"{settings.home} 的 Neo4j 存储中已有记录或团伙；要用备份替换请加 --force")
        if manifest["contents"]["rings"] and not store.has_rows("settlements"):
            folders = " ".join(manifest["ingested_folders"]) or "(none recorded)"
            raise BackupError("the rings of the backup link to the graph, which is not loaded: ingest its folders "
                              f"first ({folders}), then restore",
                              zh=f"备份中的团伙关联到尚未导入的图数据：请先导入其文件夹（{folders}），再恢复")
        store.restore_casework(backup / "casework.json")


def tar_stream(folder: Path, manifest: dict[str, Any], *, remove: Path | None = None) -> Iterator[bytes]:
    """The backup in ``folder`` as an uncompressed tar, in chunks (the database file can be
    gigabytes: never whole in memory); ``remove`` is deleted once the stream ends or is dropped."""
    try:
        for path in [folder / name for name in manifest["files"]] + [folder / MANIFEST]:
            info = tarfile.TarInfo(path.name)
            info.size = path.stat().st_size
            info.mode = 0o600
            info.mtime = int(path.stat().st_mtime)
            yield info.tobuf(tarfile.PAX_FORMAT)
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
            yield b"\0" * (-info.size % tarfile.BLOCKSIZE)
        yield b"\0" * (2 * tarfile.BLOCKSIZE)
    finally:
        if remove is not None:
            shutil.rmtree(remove, ignore_errors=True)


def untar(stream: IO[bytes], out: Path) -> dict[str, Any]:
    """Write the backup a ``tar_stream`` carries into the new folder ``out`` and verify it."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder; back up into a new folder",
                          zh=f"{out} 已存在且不是空文件夹：请备份到一个新文件夹")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or Path(member.name).name != member.name or member.name.startswith("."):
                raise BackupError(f"the server sent {member.name!r}, which is no file of a backup",
                                  zh=f"服务器发来的 {member.name!r} 不是备份中的文件")
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            with os.fdopen(os.open(out / member.name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb") as dst:
                shutil.copyfileobj(source, dst, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
    fsync_path(out)
    return verify_backup(out)
