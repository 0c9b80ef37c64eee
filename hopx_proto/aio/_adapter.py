"""What an adapter package (``hopx_trio``, ``hopx_asyncio``) adds to the client, written once.

An adapter binds :class:`Client` and :class:`AsyncSandbox` to its event loop with a backend
factory, and re-exports the names of :mod:`hopx_proto.aio.api`. Its event loop (trio or
asyncio, with its backend submodule) and its template builder are parts a program may never
use, so they load on first use: the adapter gives :func:`adapter_package` one function that
imports them (its loading point), and gets back its module ``__getattr__`` and ``__dir__``
(PEP 562) and the backend factory for its classes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol

from ._backend import Backend

__all__ = ["TEMPLATE_NAMES", "AdapterPackage", "BackendFactory", "adapter_package"]

#: The template builder's names each adapter exports.
TEMPLATE_NAMES = ("Template", "create_template", "get_logs")


class BackendFactory(Protocol):
    """Makes a backend, reading ``environ`` (``os.environ`` when ``None``)."""

    def __call__(self, environ: Mapping[str, str] | None = None) -> Backend: ...


AdapterPackage = tuple[Callable[[str], Any], Callable[[], list[str]], BackendFactory]


def adapter_package(
    package: str, backend: str, load: Callable[[str], Any], api: ModuleType
) -> AdapterPackage:
    """The module ``__getattr__``, ``__dir__`` and backend factory of adapter ``package``.

    Args:
        package: the adapter's module name (its ``__name__``); its ``__all__`` lists what it
            exports.
        backend: the name of its backend class (``"TrioBackend"``).
        load: imports and returns ``backend`` or one of :data:`TEMPLATE_NAMES` from the
            adapter's submodule (called once per name; what it returns is kept in the
            package).
        api: :mod:`hopx_proto.aio.api`, whose names the package re-exports as they are.

    Returns:
        ``(__getattr__, __dir__, new_backend)``: the names of :mod:`hopx_proto.aio.api`, the
        backend class and the template builder's names as the package's attributes, each
        read or loaded on first access; the package's names for ``dir()``; and a factory of
        backends (``new_backend(environ)``) that loads the backend with the first client.
    """
    namespace = sys.modules[package].__dict__
    lazy = {backend, *TEMPLATE_NAMES}

    def __getattr__(name: str) -> Any:
        if name in api.__all__:
            value = getattr(api, name)
        elif name in lazy:
            value = load(name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace["__all__"]))

    def new_backend(environ: Mapping[str, str] | None = None) -> Backend:
        made: Backend = __getattr__(backend)(environ)
        return made

    return __getattr__, __dir__, new_backend
