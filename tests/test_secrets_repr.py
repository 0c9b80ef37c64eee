"""Logging a value never writes a credential: secret fields are redacted in ``repr``."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

import hopx_proto
from hopx_proto import RegistryCredentials, SandboxInfo, TokenInfo, VNCInfo

SECRET_NAMES = {"auth_token", "password", "token", "api_key", "secret"}
CANARY = "eyJcanary.value.never-logged"


def _public_value_classes() -> list[type]:
    names = sorted(set(hopx_proto.__all__))
    classes = [getattr(hopx_proto, name) for name in names]
    return [c for c in classes if isinstance(c, type) and attrs.has(c)]


def test_every_field_named_like_a_credential_is_redacted() -> None:
    unredacted = [
        f"{cls.__name__}.{field.name}"
        for cls in _public_value_classes()
        for field in attrs.fields(cls)
        if field.name in SECRET_NAMES and field.repr is True
    ]
    assert unredacted == []


@pytest.mark.parametrize(
    "value",
    [
        SandboxInfo(sandbox_id="sb_1", status="running", auth_token=CANARY),
        TokenInfo(auth_token=CANARY, token_expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        RegistryCredentials(type="basic", username="me", password=CANARY, token=CANARY),
        VNCInfo(url="vnc://127.0.0.1:5901", password=CANARY),
    ],
    ids=lambda v: type(v).__name__,
)
def test_repr_shows_that_a_secret_is_set_but_not_its_value(value: object) -> None:
    text = repr(value)
    assert CANARY not in text
    assert "'<redacted>'" in text
    # Only the display changes: the value is kept, compared and dumped as before.
    assert attrs.evolve(value) == value  # type: ignore[misc]


def test_an_unset_secret_reads_as_none() -> None:
    assert "auth_token=None" in repr(SandboxInfo(sandbox_id="sb_1", status="running"))
