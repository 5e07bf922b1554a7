"""Password and token hashing for the store's users (standard library only).

Passwords: scrypt (``hashlib.scrypt``, n=2**14, r=8, p=1, a 16-byte salt), kept as
``scrypt$n$r$p$salt$hash`` so the parameters can be raised later without breaking old
hashes. API tokens are 32 random bytes: their SHA-256 is enough (they cannot be guessed),
and lets a token be looked up by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD = 8
TOKEN_PREFIX = "smt_"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_password(password: str) -> None:
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, got {type(password).__name__}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password too short: use at least {MIN_PASSWORD} characters")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            str(password).encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# verified against when the user does not exist, so a wrong name costs the same time
DUMMY_HASH = hash_password("not-a-password")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
