"""Streaming session state (issue 11): the :class:`SessionStore` interface and its backends.

``InProcessSessionStore`` is the default; ``recaudit.realtime.redis_store.RedisSessionStore`` (imported from
its module, so that the ``redis`` client is only loaded when used) shares sessions between processes.
The contract (TTL, LRU, atomicity, ordering, immutable snapshots) is in :mod:`recaudit.realtime.store`.
"""

from recaudit.realtime.store import InProcessSessionStore, SessionState, SessionStore

__all__ = ["InProcessSessionStore", "SessionState", "SessionStore"]
