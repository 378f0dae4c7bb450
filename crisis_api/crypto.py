"""Secrets we must be able to read back (webhook signing keys, provider credentials) are
encrypted at rest with Fernet. Keys come from FIELD_ENCRYPTION_KEYS (newest first, so old
ciphertexts stay readable after a rotation), else one key derived from SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    keys: list[str] = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys:
        digest = hashlib.sha256(f"crisis-api:fields:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return _fernet().decrypt(ciphertext.encode()).decode()
