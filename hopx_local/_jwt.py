"""HS256 JSON Web Tokens for the sandbox agents, signed with a per-server secret.

A token names one sandbox (``sandbox_id`` claim, also ``sub``) and carries ``iat``, ``exp``
and ``gen``, the sandbox's token generation when it was issued (it grows each time the sandbox
stops). :func:`verify_token` checks the signature, the expiry, that the token belongs to the
sandbox being called and that it was issued in the sandbox's current generation: another
sandbox's token is refused, and so is one issued before the sandbox last stopped. Refreshing
a token leaves the generation as it is, so earlier tokens stay valid until they expire.
Time is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from typing import Any, TypeGuard

import attrs

__all__ = ["TokenClaims", "TokenRejected", "issue_token", "new_secret", "verify_token"]

_HEADER = {"alg": "HS256", "typ": "JWT"}
ISSUER = "hopx-local"


class TokenRejected(Exception):
    """A token that does not open this sandbox; ``code`` is the agent error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class TokenClaims:
    """What a verified token says."""

    sandbox_id: str
    issued_at: int
    expires_at: float
    generation: int = 0


def new_secret() -> bytes:
    """A fresh 256-bit signing secret."""
    return secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    secret: bytes, sandbox_id: str, *, now: float, lifetime: int, generation: int = 0
) -> tuple[str, float]:
    """A token for ``sandbox_id`` valid for ``lifetime`` seconds; ``(token, exp)``.

    ``exp`` is ``now + lifetime`` to the microsecond (a JSON Web Token's times may have a
    fraction), so two tokens issued within one second expire at different times.
    ``generation`` is the sandbox's current token generation (see the module docstring).
    """
    iat = int(now)
    exp = round(now + lifetime, 6)
    payload = {
        "iss": ISSUER,
        "sub": sandbox_id,
        "sandbox_id": sandbox_id,
        "iat": iat,
        "exp": exp,
        "gen": generation,
        "jti": secrets.token_hex(8),
    }
    head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{_sign(secret, signing_input)}", exp


def _claims(text: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(text))
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected("TOKEN_INVALID", "Token is malformed") from None
    if not isinstance(value, dict):
        raise TokenRejected("TOKEN_INVALID", "Token is malformed")
    return value


def verify_token(
    secret: bytes, token: str, *, sandbox_id: str, now: float, generation: int | None = None
) -> TokenClaims:
    """The claims of ``token`` if it is valid for ``sandbox_id`` at ``now``.

    With ``generation``, the token must also have been issued in that token generation of the
    sandbox (tokens without a ``gen`` claim count as generation 0).

    Raises :class:`TokenRejected` with ``TOKEN_INVALID`` (bad shape, bad signature, another
    sandbox's token, a token issued before the sandbox last stopped) or ``TOKEN_EXPIRED``.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenRejected("TOKEN_INVALID", "Token is malformed")
    head, body, signature = parts
    try:
        expected = _sign(secret, f"{head}.{body}")
    except UnicodeEncodeError:
        raise TokenRejected("TOKEN_INVALID", "Token is malformed") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise TokenRejected("TOKEN_INVALID", "Token signature is invalid")
    header = _claims(head)
    if header.get("alg") != "HS256":
        raise TokenRejected("TOKEN_INVALID", "Token algorithm is not HS256")
    claims = _claims(body)
    owner = claims.get("sandbox_id")
    exp = claims.get("exp")
    iat = claims.get("iat", 0)
    gen = claims.get("gen", 0)
    if not (isinstance(owner, str) and _is_number(exp) and _is_int(iat) and _is_int(gen)):
        raise TokenRejected("TOKEN_INVALID", "Token claims are incomplete")
    if not hmac.compare_digest(owner.encode("utf-8", "replace"), sandbox_id.encode()):
        raise TokenRejected("TOKEN_INVALID", "Token was issued for another sandbox")
    if generation is not None and gen != generation:
        raise TokenRejected(
            "TOKEN_INVALID",
            "Token was issued before this sandbox was last stopped; ask the control plane "
            "for a new one (refresh_token)",
        )
    if now >= exp:
        raise TokenRejected("TOKEN_EXPIRED", "Token has expired")
    return TokenClaims(sandbox_id=owner, issued_at=iat, expires_at=exp, generation=gen)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
