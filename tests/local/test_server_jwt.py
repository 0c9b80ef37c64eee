"""The agent JWT: HS256 signed with the server's secret, bound to one sandbox, expiring."""

from __future__ import annotations

import base64
import json

import pytest

from hopx_local._jwt import TokenRejected, issue_token, new_secret, verify_token

NOW = 1_760_000_000.0


def _rejected(secret: bytes, token: str, sandbox_id: str, now: float = NOW) -> str:
    with pytest.raises(TokenRejected) as info:
        verify_token(secret, token, sandbox_id=sandbox_id, now=now)
    return info.value.code


def test_round_trip_claims() -> None:
    secret = new_secret()
    token, exp = issue_token(secret, "sbx1", now=NOW, lifetime=3600)
    assert exp == int(NOW) + 3600
    claims = verify_token(secret, token, sandbox_id="sbx1", now=NOW + 10)
    assert (claims.sandbox_id, claims.issued_at, claims.expires_at) == ("sbx1", int(NOW), exp)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_another_sandboxs_token_is_invalid() -> None:
    secret = new_secret()
    token, _ = issue_token(secret, "sbx1", now=NOW, lifetime=3600)
    assert _rejected(secret, token, "sbx2") == "TOKEN_INVALID"


def test_expired_token() -> None:
    secret = new_secret()
    token, exp = issue_token(secret, "sbx1", now=NOW, lifetime=60)
    assert _rejected(secret, token, "sbx1", now=exp) == "TOKEN_EXPIRED"
    verify_token(secret, token, sandbox_id="sbx1", now=exp - 1)


def test_other_servers_token_is_invalid() -> None:
    token, _ = issue_token(new_secret(), "sbx1", now=NOW, lifetime=3600)
    assert _rejected(new_secret(), token, "sbx1") == "TOKEN_INVALID"


def test_tampered_claims_are_invalid() -> None:
    secret = new_secret()
    token, _ = issue_token(secret, "sbx1", now=NOW, lifetime=3600)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["exp"] += 10_000
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _rejected(secret, f"{head}.{forged}.{sig}", "sbx1") == "TOKEN_INVALID"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "..", "é.é.é", "eyJ.eyJ.sig"])
def test_malformed_tokens_are_invalid(token: str) -> None:
    assert _rejected(new_secret(), token, "sbx1") == "TOKEN_INVALID"


def test_unsigned_algorithm_is_refused() -> None:
    secret = new_secret()
    token, _ = issue_token(secret, "sbx1", now=NOW, lifetime=3600)
    _head, body, _sig = token.split(".")
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert _rejected(secret, f"{none_head}.{body}.", "sbx1") == "TOKEN_INVALID"


def test_a_token_of_an_earlier_generation_is_invalid() -> None:
    secret = new_secret()
    token, _ = issue_token(secret, "sbx1", now=NOW, lifetime=3600, generation=2)
    assert verify_token(secret, token, sandbox_id="sbx1", now=NOW, generation=2).generation == 2
    assert _rejected_at(secret, token, generation=3) == "TOKEN_INVALID"
    assert _rejected_at(secret, token, generation=1) == "TOKEN_INVALID"
    # Without a generation to check against, only signature, owner and expiry count.
    verify_token(secret, token, sandbox_id="sbx1", now=NOW)


def test_a_token_without_a_generation_is_of_the_first() -> None:
    secret = new_secret()
    token = _signed(secret, {"sandbox_id": "sbx1", "iat": int(NOW), "exp": int(NOW) + 60})
    assert verify_token(secret, token, sandbox_id="sbx1", now=NOW, generation=0).generation == 0
    assert _rejected_at(secret, token, generation=1) == "TOKEN_INVALID"


@pytest.mark.parametrize("gen", ["1", 1.0, True, None, [1]])
def test_a_generation_that_is_not_an_integer_is_invalid(gen: object) -> None:
    secret = new_secret()
    claims = {"sandbox_id": "sbx1", "iat": int(NOW), "exp": int(NOW) + 60, "gen": gen}
    assert _rejected_at(secret, _signed(secret, claims), generation=1) == "TOKEN_INVALID"


def test_claims_holding_lone_surrogates_are_invalid() -> None:
    secret = new_secret()
    claims = {"sandbox_id": "sbx\udcff", "iat": int(NOW), "exp": int(NOW) + 60}
    assert _rejected(secret, _signed(secret, claims), "sbx1") == "TOKEN_INVALID"


def _signed(secret: bytes, claims: dict[str, object]) -> str:
    import hashlib
    import hmac

    def part(value: object) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _rejected_at(secret: bytes, token: str, *, generation: int) -> str:
    with pytest.raises(TokenRejected) as info:
        verify_token(secret, token, sandbox_id="sbx1", now=NOW, generation=generation)
    return info.value.code


def test_an_expiry_keeps_its_fraction_of_a_second() -> None:
    secret = new_secret()
    token, exp = issue_token(secret, "sbx1", now=NOW + 0.25, lifetime=60)
    assert exp == NOW + 60.25
    later, later_exp = issue_token(secret, "sbx1", now=NOW + 0.5, lifetime=60)
    assert later_exp > exp
    assert verify_token(secret, token, sandbox_id="sbx1", now=exp - 0.01).expires_at == exp
    assert _rejected(secret, token, "sbx1", now=exp) == "TOKEN_EXPIRED"
    assert verify_token(secret, later, sandbox_id="sbx1", now=exp).expires_at == later_exp
