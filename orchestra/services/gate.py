"""ModelGate: caps concurrent model calls across all tasks, with a queue people can see.

LM Studio returns empty or cut answers under several concurrent streams with large prompts
(lmstudio-ai/lms#565), so every model call the orchestrator and the checker make takes a slot
here first. Waiters are served first come, first served; their positions are public so the
pages can say "waiting, 2nd in line".
"""

import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)


class Ticket:
    """One call holding or waiting for a slot; `label` says whose call it is (a dict)."""

    def __init__(self, label):
        self.label = dict(label or {})
        self.granted = asyncio.get_running_loop().create_future()


class ModelGate:
    def __init__(self, limit):
        if limit < 1:
            raise ValueError("the limit on concurrent model calls must be at least 1")
        self.limit = limit
        self.active = []
        self.waiting = []
        self.on_change = None  # called with no arguments when the queue changes

    @contextlib.asynccontextmanager
    async def slot(self, label=None):
        ticket = Ticket(label)
        if len(self.active) < self.limit and not self.waiting:
            self.active.append(ticket)
        else:
            self.waiting.append(ticket)
            self._changed()
            try:
                await ticket.granted
            except asyncio.CancelledError:
                if ticket in self.waiting:
                    self.waiting.remove(ticket)
                    self._changed()
                else:  # granted in the same instant it was cancelled: hand the slot on
                    self._release(ticket)
                raise
        try:
            yield ticket
        finally:
            self._release(ticket)

    def _release(self, ticket):
        if ticket in self.active:
            self.active.remove(ticket)
        while self.waiting and len(self.active) < self.limit:
            nxt = self.waiting.pop(0)
            if nxt.granted.done():
                continue
            self.active.append(nxt)
            nxt.granted.set_result(True)
        self._changed()

    def _changed(self):
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                logger.exception("queue change listener failed")

    def is_waiting(self, ticket):
        return ticket in self.waiting

    def position(self, **match):
        """1-based place in line of the first waiting call whose label matches, or None."""
        for index, ticket in enumerate(self.waiting, 1):
            if all(ticket.label.get(k) == v for k, v in match.items()):
                return index
        return None

    def snapshot(self):
        """{"limit", "running": [labels], "waiting": [labels]} for the API and pages."""
        return {"limit": self.limit, "running": [t.label for t in self.active],
                "waiting": [t.label for t in self.waiting]}
