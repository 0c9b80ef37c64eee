"""``TerminalSession.resize`` refuses sizes a PTY cannot take before anything is sent, and
the terminal stays usable afterwards; the emulator sees only the good resize."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import hopx_local
from hopx_proto import LocalProtocolError

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BAD_SIZES = [(0, 10), (70000, 10), (10, 65536), (-1, 10), (10, 0), (True, 10), (80.5, 24)]


async def test_out_of_range_resize_raises_before_sending(
    adapter: Any, local: hopx_local.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with adapter.AsyncSandbox.create(template="code-interpreter") as sb:
        async with await sb.terminal.connect() as term:
            sent: list[str] = []
            send_text = term._session.send_text

            async def recording(text: str) -> None:
                sent.append(text)
                await send_text(text)

            monkeypatch.setattr(term._session, "send_text", recording)
            for cols, rows in BAD_SIZES:
                with pytest.raises(LocalProtocolError, match=r"from 1 to 65535|integer"):
                    await term.resize(cols, rows)
                with pytest.raises(ValueError):  # LocalProtocolError is a ValueError too
                    await sb.terminal.resize(term, cols, rows)
            assert sent == []
            assert not term.closed
            # The session is intact: the largest size goes through and the shell sees it.
            await term.resize(65535, 65535)
            await term.send_input("stty size; exit\n")
            output = ""
            with anyio.fail_after(20):
                async for event in term.iter_output():
                    if event["type"] == "output":
                        output += event["data"]
        assert "65535 65535" in output
        assert [text for text in sent if '"resize"' in text] == [
            '{"type":"resize","cols":65535,"rows":65535}'
        ]
