"""``sandbox.env`` and ``sandbox.cache``."""

# ruff: noqa: ASYNC109  (per-call timeout= keywords, as in the official signatures)
from __future__ import annotations

from typing import Any

from .._codec import to_wire
from .._ops import agent as agent_ops
from .._ops._base import NoArgs
from ._agent import Agent

__all__ = ["AsyncCache", "AsyncEnvironmentVariables"]


class AsyncEnvironmentVariables:
    """Sandbox-wide environment variables, inherited by every later execution.

    ``timeout`` is a per-call read deadline in seconds (honoured, unlike the official client).
    Every method raises :class:`~hopx_proto.AgentError` subclasses as the agent answers, and
    :class:`~hopx_proto.NetworkError` / :class:`~hopx_proto.TimeoutError` for the transport.

    Args:
        agent: the sandbox's agent (``sandbox.env`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def get_all(self, *, timeout: int | None = None) -> dict[str, str]:
        """Every variable, by name (``timeout``: the read deadline in seconds)."""
        reply = await self._agent.call(agent_ops.ENV_GET, NoArgs(), read_timeout=timeout)
        return dict(reply.env_vars)

    async def set_all(
        self,
        env_vars: dict[str, str],
        *,
        timeout: int | None = None,
    ) -> dict[str, str]:
        """Replace every variable with ``env_vars``.

        Args:
            env_vars: the variables to set; every other one is removed.
            timeout: the read deadline in seconds.

        Returns:
            The variables now set.
        """
        reply = await self._agent.call(
            agent_ops.ENV_SET, agent_ops.EnvSetArgs(env_vars=env_vars), read_timeout=timeout
        )
        return _vars_of(reply, env_vars)

    async def update(
        self,
        env_vars: dict[str, str],
        *,
        timeout: int | None = None,
    ) -> dict[str, str]:
        """Add or overwrite ``env_vars``.

        Args:
            env_vars: the variables to set; the others stay.
            timeout: the read deadline in seconds.

        Returns:
            Every variable afterwards.
        """
        reply = await self._agent.call(
            agent_ops.ENV_UPDATE,
            agent_ops.EnvUpdateArgs(env_vars=env_vars),
            read_timeout=timeout,
        )
        found = reply.get("env_vars") if isinstance(reply, dict) else None
        if isinstance(found, dict):
            return {str(k): str(v) for k, v in found.items()}
        return await self.get_all(timeout=timeout)

    async def delete(self, name: str, *, timeout: int | None = None) -> None:
        """Remove the variable ``name`` (nothing happens if it is not set); ``timeout`` is
        the read deadline of each of the two calls, in seconds."""
        current = await self._agent.call(agent_ops.ENV_GET, NoArgs(), read_timeout=timeout)
        if name not in current.env_vars:
            return
        await self._agent.call(
            agent_ops.ENV_SET,
            agent_ops.EnvSetArgs(env_vars=current.without(name)),
            read_timeout=timeout,
        )

    async def get(self, name: str, default: str | None = None) -> str | None:
        """The variable ``name``, or ``default`` when it is not set."""
        return (await self.get_all()).get(name, default)

    async def set(self, name: str, value: str) -> None:
        """Set the variable ``name`` to ``value``."""
        await self.update({name: value})


def _vars_of(reply: Any, sent: dict[str, str]) -> dict[str, str]:
    found = reply.get("env_vars") if isinstance(reply, dict) else None
    if isinstance(found, dict):
        return {str(k): str(v) for k, v in found.items()}
    return dict(sent)


class AsyncCache:
    """The agent's execution cache.

    Args:
        agent: the sandbox's agent (``sandbox.cache`` makes this object).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def stats(self, *, timeout: int | None = None) -> dict[str, Any]:
        """Cache statistics (``timeout``: the read deadline in seconds)."""
        reply = await self._agent.call(agent_ops.CACHE_STATS, NoArgs(), read_timeout=timeout)
        return dict(to_wire(reply))

    async def clear(self, *, timeout: int | None = None) -> None:
        """Empty the cache (``timeout``: the read deadline in seconds)."""
        await self._agent.call(agent_ops.CACHE_CLEAR, NoArgs(), read_timeout=timeout)
