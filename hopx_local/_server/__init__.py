"""The emulator's servers: the HTTP serving loop, the control plane, one agent per sandbox,
WebSocket streams, and the fleet that ties sandboxes to their runtimes and ports.

Modules: :mod:`.connection` (serving loop), :mod:`.envelope` (error bodies), :mod:`.control`
(control plane), :mod:`.fleet` (sandboxes), :mod:`.agent` (agent dispatch and auth) with
:mod:`.agent_exec`, :mod:`.agent_files`, :mod:`.agent_info`, :mod:`.websocket` and
:mod:`.ws_channel` (streams), :mod:`.webhook` (async execution callbacks), :mod:`.app`
(``serve()``).
"""

from __future__ import annotations
