"""A small in-process event hub: services publish, the web layer subscribes."""

import logging

logger = logging.getLogger(__name__)


class Hub:
    """Topic -> callbacks. A failing subscriber is logged and never stops the others."""

    def __init__(self):
        self._subscribers = {}

    def subscribe(self, topic, callback):
        self._subscribers.setdefault(topic, []).append(callback)

    def unsubscribe(self, topic, callback):
        callbacks = self._subscribers.get(topic, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def publish(self, topic, *args, **kwargs):
        for callback in list(self._subscribers.get(topic, ())):
            try:
                callback(*args, **kwargs)
            except Exception:
                logger.exception("subscriber of %r failed", topic)
