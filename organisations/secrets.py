"""Bearer secrets (API keys, app tokens, invitations): random, shown once, stored as SHA-256.

A secret reads `<kind>_<prefix>_<random>`; the prefix is stored in clear to find the row and to
let people recognise a key, the whole secret only as a hash. The secrets carry 256 bits of
entropy, so a fast hash is the right one (a slow password hash adds nothing but latency).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY = "cak"
APP_TOKEN = "crt"  # noqa: S105 - a prefix, not a secret
INVITATION = "cinv"


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(kind: str) -> tuple[str, str, str]:
    """(secret, prefix, hash) for a fresh secret of this kind."""
    prefix = secrets.token_hex(6)
    raw = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return raw, prefix, hash_secret(raw)


def split_secret(raw: str) -> tuple[str, str] | None:
    """(kind, prefix) of a well-formed secret, None otherwise."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[0], parts[1]


def secret_matches(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(raw), stored_hash)
