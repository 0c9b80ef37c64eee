"""A local emulator of the HOPX cloud-sandbox service.

It speaks the service's wire protocol on loopback: a control plane on one port and one agent
per sandbox on its own port, so every client works unchanged::

    async with hopx_local.serve() as local:
        print(local.base_url, local.api_key)

Also ``hopx-local serve`` (a process), ``hopx-local run -- CMD`` and the ``hopx_local`` pytest
fixture (``-p hopx_local.pytest_plugin``).
"""

from __future__ import annotations

from ._server.app import LocalServer as LocalServer, serve as serve
from ._server.connection import ServerLimits as ServerLimits

__all__ = ["LocalServer", "ServerLimits", "serve"]
