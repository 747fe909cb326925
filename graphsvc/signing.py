"""The fund's signing key (Ed25519): made once per home; its private half never leaves the home.

The key signs each police package's manifest (``queries.export``), so that whoever receives a
package can tell it comes from this fund office and was not changed on the way. The private key
is ``HOME/signing-key`` (PKCS#8 PEM), created owner-only (0600) in one step, never served and
never logged; a key file that others may read is refused, as ssh refuses a readable private key.
The public key is served (``GET /signing-key``), printed (``graphsvc signing-key``) and bundled in
every package; its fingerprint is the SHA-256 of its 32 raw bytes, in hex, and the printable form
groups that in fours so two people can read it to each other over the phone.

>>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
>>> key = Ed25519PrivateKey.from_private_bytes(bytes(32))
>>> fingerprint(key.public_key())[:16]
'139e3940e64b5491'
>>> printable(fingerprint(key.public_key())).splitlines()[0]
'139E 3940 E64B 5491 7220 88D9 A0D7 4162'
>>> load_public_pem(public_pem(key.public_key()).encode()) == key.public_key()
True
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from graphsvc.errors import InputError, StoreError
from graphsvc.files import create_once

__all__ = ["KEY_FILE", "home_key", "public_pem", "fingerprint", "printable", "load_public_pem", "signature_holds"]

KEY_FILE = "signing-key"
"""The private key's file name under the home."""


def home_key(home: Path) -> Ed25519PrivateKey:
    """The home's signing key, made on first use."""
    path = Path(home) / KEY_FILE
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(f"{path} may be read by others (mode {stat.S_IMODE(mode):o}); a signing key must be the "
                         f"owner's alone: chmod 600 {path}, and make a new key if others may have copied it",
                         zh=f"签名私钥 {path} 权限过宽（{stat.S_IMODE(mode):o}），他人可读：请执行 chmod 600 {path}；"
                            "若可能已被他人复制，请另建新密钥")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise StoreError(f"{path} is not a PEM private key; restore it from the home's backup",
                         zh=f"签名私钥文件 {path} 损坏（不是 PEM 私钥）：请从主目录的备份恢复") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"{path} holds a {type(key).__name__}, not an Ed25519 key",
                         zh=f"签名私钥类型不符：{path} 中是 {type(key).__name__}，不是 Ed25519 密钥")
    return key


def _create(path: Path) -> None:
    # A server and a command making the key at the same moment both end up with the first one.
    create_once(path, Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM (what ``openssl pkey -pubin`` reads)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the key's 32 raw bytes, lower-case hex."""
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def printable(fingerprint_hex: str) -> str:
    """A fingerprint to read aloud or print: upper case, groups of four, eight groups a line."""
    groups = [fingerprint_hex[i:i + 4].upper() for i in range(0, len(fingerprint_hex), 4)]
    return "\n".join(" ".join(groups[i:i + 8]) for i in range(0, len(groups), 8))


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; InputError when ``data`` is not one."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InputError("not a PEM public key", zh="公钥格式不正确（不是 PEM 公钥）") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"the key is a {type(key).__name__}, not Ed25519",
                         zh=f"公钥类型不符：是 {type(key).__name__}，不是 Ed25519")
    return key


def signature_holds(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``key``'s Ed25519 signature of ``message``."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
