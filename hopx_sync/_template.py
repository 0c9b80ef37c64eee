"""``Template.build`` for synchronous programs: the one build flow, run by the blocking backend.

The builder itself is :class:`hopx_proto.aio.Template`'s; ``build``, ``get_logs`` and the
result's ``create_vm``/``get_logs`` block here instead of returning coroutines, and the
sandboxes they make are :class:`~hopx_sync.Sandbox` objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hopx_proto import aio
from hopx_proto.aio.api import BuildOptions, CreateVMOptions, LogsResponse

from ._backend import BlockingBackend
from ._blocking import call
from ._driver import BlockingStream, check_no_running_loop
from ._sandbox import Client, Sandbox, _AsyncSandbox

__all__ = ["VM", "BuildResult", "Template", "create_template", "get_logs"]


@dataclasses.dataclass
class VM(aio.VM):
    """A sandbox made from a built template; ``sandbox`` is the :class:`~hopx_sync.Sandbox`.

    Attributes:
        vm_id: the sandbox id.
        template_id: the template it was made from.
        status: its status when made.
        ip: its agent's host.
        agent_url: its agent's URL.
        started_at: when it was created (ISO 8601).
        _delete_func: kills it (:meth:`delete`).
        sandbox: the sandbox itself.
    """

    def delete(self) -> None:  # type: ignore[override]  # blocking here
        """Kill the sandbox."""
        if self._delete_func is not None:
            self._delete_func()


@dataclasses.dataclass
class BuildResult(aio.BuildResult):
    """A finished build, with blocking helpers.

    Attributes:
        build_id: the build's id.
        template_id: the built template's id.
        duration: how long the build took, in milliseconds.
        _create_vm_func: makes a sandbox from the template (:meth:`create_vm`).
        _base_url: the control plane the template lives on.
        _api_key: the API key of the build.
        _get_logs_func: polls the build's log (:meth:`get_logs`).
    """

    def create_vm(self, options: CreateVMOptions | None = None) -> VM:  # type: ignore[override]
        """Create a sandbox from the template.

        Args:
            options: its environment variables.
        """
        made = call("BuildResult.create_vm", aio.BuildResult.create_vm(self, options))
        sandbox = Sandbox._wrap(made.sandbox)
        return VM(
            vm_id=made.vm_id,
            template_id=made.template_id,
            status=made.status,
            ip=made.ip,
            agent_url=made.agent_url,
            started_at=made.started_at,
            _delete_func=sandbox.kill,  # type: ignore[arg-type]
            sandbox=sandbox,
        )

    def get_logs(self, offset: int = 0) -> LogsResponse:  # type: ignore[override]
        """One poll of the build's log from ``offset`` on.

        Args:
            offset: where to start; send the returned ``offset`` next time.
        """
        return call("BuildResult.get_logs", aio.BuildResult.get_logs(self, offset))


class Template(aio.Template, backend=BlockingBackend, sandbox=_AsyncSandbox):
    """The template builder (``hopx_ai``'s ``Template``) whose ``build`` blocks.

    Args:
        from_image: the base image (``"python:3.11"``, ...).
    """

    @staticmethod
    def build(  # type: ignore[override]
        template: aio.Template, options: BuildOptions, *, client: Client | None = None
    ) -> BuildResult:
        """Build ``template`` and wait until it is active; see
        :meth:`hopx_proto.aio.Template.build`.

        Args:
            template: the template to build.
            options: name, credentials, resources and callbacks.
            client: send every request through this client instead of a new one.

        Raises:
            ValueError: the template has no base image or no real step.
            TemplateBuildError: the build failed (``logs`` holds its log).
        """
        check_no_running_loop("Template.build")
        result = call("Template.build", Template._build(template, options, client))
        return BuildResult(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)})

    @classmethod
    def get_logs(  # type: ignore[override]
        cls,
        template_id: str,
        api_key: str,
        offset: int = 0,
        base_url: str | None = None,
        *,
        client: Client | None = None,
    ) -> LogsResponse:
        """One poll of a build's log.

        Args:
            template_id: the template's id.
            api_key: the API key.
            offset: where to start.
            base_url: the control plane (the default when ``None``).
            client: ask through this client instead of a new one.
        """
        coro = super().get_logs(template_id, api_key, offset, base_url, client=client)
        return call("Template.get_logs", coro)

    @classmethod
    def stream_logs(  # type: ignore[override]
        cls, template_id: str, api_key: str, offset: int = 0, base_url: str | None = None
    ) -> BlockingStream[Any]:
        """A build's log lines as an iterator, polled until the build ends.

        Args:
            template_id: the template's id.
            api_key: the API key.
            offset: where to start.
            base_url: the control plane (the default when ``None``).
        """
        return BlockingStream(super().stream_logs(template_id, api_key, offset, base_url))


create_template = aio.template_factory(Template)
get_logs = Template.get_logs
