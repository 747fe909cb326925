"""``GET /signing-key``: the fund's public key, with which every police package's manifest is signed.

A public key is no secret, but it is what the receiving side trusts a package by, so it is handed
over out of band (printed with the referral letter, read over the phone) and this route is where
the fund's own staff fetch it for that: any role with an API key may read it (police liaison
officers included), and each read is audited like every other, so a fund can say who fetched which
key when. The private key never leaves the home (``graphsvc.signing``). Like the jobs routes, this
route's model is defined here, beside the one route that answers it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import CallerDep
from graphsvc.signing import fingerprint, home_key, printable, public_pem

__all__ = ["router", "SigningKey"]

router = APIRouter(tags=["signing"])


class SigningKey(BaseModel):
    """The fund's public signing key (签名公钥) and its fingerprint."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key_pem: str = Field(description="SubjectPublicKeyInfo PEM: save as a .pem file for graphsvc verify --key")
    fingerprint_sha256: str = Field(description="SHA-256 of the key's 32 raw bytes, lower-case hex")
    printable: str = Field(description="the fingerprint in groups of four, to print on the referral or read aloud "
                                       "(公钥指纹)")


@router.get("/signing-key", response_model=SigningKey,
            summary="The fund's public Ed25519 key that signs every police package's manifest (公钥), with its "
                    "fingerprint")
async def get_signing_key(caller: CallerDep) -> SigningKey:
    # made on the first export or read; the file read and the audit's fsync wait in the thread pool
    public = (await run_in_threadpool(home_key, caller.settings.home)).public_key()
    digest = fingerprint(public)
    await run_in_threadpool(caller.audit, "read_signing_key", digest)
    return SigningKey(public_key_pem=public_pem(public), fingerprint_sha256=digest, printable=printable(digest))
