"""``eventually``: wait for a condition with a deadline, and fail saying what was last seen."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from opframe.errors import NotFound

__all__ = ["eventually"]

T = TypeVar("T")

_FIRST_PAUSE = 0.01


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str = ...,
    retry_on: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is the point of this helper
    interval: float = 0.1,
    message: str = "",
    retry_on: tuple[type[BaseException], ...] = (AssertionError, NotFound),
) -> Any:
    """Call ``check`` (plain or async) until it passes; return its last result.

    A check passes when it raises nothing in ``retry_on`` (``AssertionError`` and
    :class:`~opframe.NotFound` by default) and returns a true value or ``None``, so both a
    predicate and a function of plain ``assert`` statements work. The API server tells no one
    when something changed, so this asks again, every ``interval`` seconds at most (sooner at
    first). After ``timeout`` seconds it raises ``AssertionError`` naming the check, the number
    of tries and the last result or error::

        cm = await eventually(lambda: client.get(ConfigMap, "hello", "default"))

        async def ready() -> None:
            greeting = await client.get(Greeting, "hello", "default")
            assert is_true(greeting.status.conditions, "Ready"), greeting.status

        await eventually(ready, timeout=30, message="the Greeting becomes Ready")
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = min(_FIRST_PAUSE, interval)
    tries = 0
    while True:
        tries += 1
        last_error: BaseException | None = None
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except retry_on as exc:
            last_error = exc
        else:
            if result is None or result:
                return result
        if loop.time() >= deadline:
            what = message or _name_of(check)
            last = (
                f"{type(last_error).__name__}: {last_error}"
                if last_error is not None
                else f"it returned {result!r}"
            )
            raise AssertionError(
                f"{what}: not true within {timeout:g}s ({tries} tries); last time {last}"
            ) from last_error
        await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
        pause = min(pause * 2, interval)


def _name_of(check: Callable[..., object]) -> str:
    name = getattr(check, "__qualname__", "") or repr(check)
    if name.endswith("<lambda>"):
        try:
            source = inspect.getsource(check).strip()
        except (OSError, TypeError):
            return "the check"
        return f"check {source!r}"
    return f"check {name}()"
