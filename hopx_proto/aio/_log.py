"""The client's loggers, which load :mod:`logging` only for a record that would be emitted.

Importing :mod:`logging` costs a few milliseconds, and a program that never configured it
emits none of the client's debug and info records: a logger's level can only be set, and a
handler added, after the program imported :mod:`logging`. So while :mod:`logging` is not
loaded, a debug or info record is dropped unseen, exactly as ``logging`` itself would drop it
(its root logger stands at WARNING); a warning or an error loads it and goes through, where
:mod:`logging`'s last-resort handler prints it as it would have.
"""

from __future__ import annotations

import sys

__all__ = ["DEBUG", "INFO", "WARNING", "Logger"]

# The values of logging.DEBUG, INFO and WARNING, which are part of its documented API.
DEBUG = 10
INFO = 20
WARNING = 30


class Logger:
    """A named logger of :mod:`logging`, fetched only when a record of its level could be
    emitted (see the module).

    Args:
        name: the logger's name, as for ``logging.getLogger``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def is_enabled_for(self, level: int) -> bool:
        """Whether a record of ``level`` would be emitted (``Logger.isEnabledFor``)."""
        logging = sys.modules.get("logging")
        if logging is None:
            return level >= WARNING
        enabled: bool = logging.getLogger(self.name).isEnabledFor(level)
        return enabled

    def log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        """``logging.getLogger(name).log(level, msg, *args)``, when :meth:`is_enabled_for`;
        the record names the caller of :meth:`debug`, :meth:`info` or :meth:`warning`."""
        if self.is_enabled_for(level):
            import logging  # here: loaded by the first record that is emitted

            logging.getLogger(self.name).log(level, msg, *args, exc_info=exc_info, stacklevel=3)

    def debug(self, msg: str, *args: object, exc_info: bool = False) -> None:
        """A DEBUG record (``Logger.debug``)."""
        self.log(DEBUG, msg, *args, exc_info=exc_info)

    def info(self, msg: str, *args: object, exc_info: bool = False) -> None:
        """An INFO record (``Logger.info``)."""
        self.log(INFO, msg, *args, exc_info=exc_info)

    def warning(self, msg: str, *args: object, exc_info: bool = False) -> None:
        """A WARNING record (``Logger.warning``)."""
        self.log(WARNING, msg, *args, exc_info=exc_info)
