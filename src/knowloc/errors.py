"""User-facing errors: one clear line, never a traceback."""

from __future__ import annotations

from typing import Any, Iterable


class UserError(Exception):
    """A mistake in the user's input (config value, path, option).

    The CLI prints ``knowloc: error: <message>`` and exits with status 2.
    """

    exit_code = 2


class ConfigValueError(UserError):
    """``key=value`` is not allowed; the message names what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str | Iterable[Any]):
        if not isinstance(allowed, str):
            allowed = "one of " + ", ".join(str(a) for a in allowed)
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed; expected {allowed}")


class DataNotFoundError(UserError):
    """A data set file or folder is missing."""


class DivergenceError(RuntimeError):
    """Training produced NaN or inf; the message names the step and the metric."""

    exit_code = 3


def user_error_in(exc: BaseException | None) -> UserError | None:
    """The UserError behind a wrapped exception (e.g. Hydra's InstantiationException), if any."""
    for _ in range(10):
        if exc is None or isinstance(exc, UserError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
