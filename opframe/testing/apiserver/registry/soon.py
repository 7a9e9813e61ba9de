"""Run an in-process controller's pending work from the event loop, right after the write.

Both the garbage collector (:mod:`.gc`) and the quota controller (:mod:`.quota`) queue work in
a write hook and drain it once the write has answered; this module is that one mechanism.

Example::

    pending: list[str] = []
    runner = SoonRunner(lambda: pending.clear())
    pending.append("ns")
    runner.poke()  # with no running loop the drain runs at once
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from opframe.testing.apiserver.errors import StatusError

__all__ = ["SoonRunner", "run_step"]


class SoonRunner:
    """Calls ``drain`` once, soon, however many times :meth:`poke` is called before it runs.

    With a running event loop the drain is scheduled with ``call_soon``; without one (a
    synchronous caller) it runs at once.

    Example::

        runner = SoonRunner(lambda: print("drained"))
        runner.poke()
    """

    def __init__(self, drain: Callable[[], None]) -> None:
        self._drain = drain
        self._scheduled = False

    def poke(self) -> None:
        """Make sure a drain runs soon (at once when no event loop is running)."""
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run()
            return
        self._scheduled = True
        loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        self._drain()


def run_step(step: Callable[[], None], what: str, log: logging.Logger) -> None:
    """Run one controller step; log (never raise) its failure as ``"<what> failed"``.

    A :class:`StatusError` (an expected conflict or a gone object) is logged at debug level,
    anything else with its traceback.

    Example::

        run_step(lambda: None, "quota sync of ns", logging.getLogger(__name__))
    """
    try:
        step()
    except StatusError as e:
        log.debug("%s failed: %s", what, e.message)
    except Exception:
        log.exception("%s failed", what)
