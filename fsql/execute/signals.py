"""Turning termination signals into an exception for the length of a block.

A signal whose disposition is the default one (SIGTERM from `kill` or a scheduler,
SIGHUP from a closed terminal) ends the process at once: no `finally` runs, so files a
write had half made stay behind. `raise_on_termination` installs, for the block, a
handler that raises `Terminated` instead, so the block's `finally` clauses clean up.
On the way out it puts the previous handlers back and, if such a signal came, raises
it again: the process then ends the conventional way, killed by that signal (a shell
reports status 128 + the signal number, 143 for SIGTERM), as it would have without us.

Only signals left at their default disposition are taken over: an ignored signal stays
ignored, and a handler the application installed (SIGINT's default raising
KeyboardInterrupt among them) stays in charge. Python runs signal handlers in the main
thread only, so in any other thread the block runs unguarded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# The signals whose default action ends the process and which a user or a supervisor
# sends to ask for an end (SIGKILL cannot be caught; SIGQUIT is asked for a core dump).
_TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


class Terminated(BaseException):
    """A termination signal arrived inside `raise_on_termination`.

    A BaseException, like KeyboardInterrupt, so `except Exception` does not swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")


class _Guard:
    """The handler of one guarded block: raises once, then only remembers."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.armed = True

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        # Raise once: a second signal while `finally` clauses clean up must not cut
        # them short. Both are honoured when the first is raised again on the way out.
        if first and self.armed:
            raise Terminated(signum)


@contextmanager
def raise_on_termination() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP (and SIGINT if left at SIG_DFL) raise `Terminated`.

    After the block the previous handlers are back, and a signal that came is raised
    again, so the process still ends by it once the block's cleanup has run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    guard = _Guard()
    previous: dict[int, Any] = {}
    try:
        for signum in _TERMINATING:
            if signal.getsignal(signum) == signal.SIG_DFL:
                previous[signum] = signal.signal(signum, guard.handle)
        yield
    finally:
        guard.armed = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if guard.received is not None:
            # The default action now: the process ends here, killed by the signal.
            signal.raise_signal(guard.received)
