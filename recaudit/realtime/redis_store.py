"""The :class:`~recaudit.realtime.store.SessionStore` interface on Redis, for sessions shared by processes.

Same semantics and the same concurrency contract as the in-process store (:mod:`recaudit.realtime.store`),
across every client of one Redis server. Layout under ``prefix`` (default ``recaudit:session``):

* ``<prefix>:items:<key>``: a list, the session's item rows in the order applied (``RPUSH``);
* ``<prefix>:meta:<key>``: a hash, ``updated_at`` and ``event_time`` (``repr`` of the float, so they round
  trip exactly) and ``vec`` (the vector slot as little-endian float32 bytes, absent when never set);
* ``<prefix>:upd``: a sorted set, session -> ``updated_at``: the TTL index (sweeps read its low end);
* ``<prefix>:lru``: a sorted set, session -> last-use stamp: the LRU index;
* ``<prefix>:seq``: the counter that hands out the last-use stamps.

**TTL.** Both per-session keys carry ``PEXPIRE ttl`` from every update, so Redis frees abandoned sessions by
itself, in server time. Visibility follows the store's clock (``clock=``, default :func:`time.time`, which
all processes share): every script gets ``now`` from the client and treats a session with
``updated_at <= now - ttl_s`` as gone, exactly as the in-process store does, which keeps the injected clock
of the tests authoritative (no sleeps) and makes both backends agree. With real clocks the two agree within
the clients' clock skew.

**LRU.** A sorted set of last-use *stamps*: each append, read or vector write takes the next value of
``<prefix>:seq`` (``INCR``, inside the same script) as the session's score. A logical clock rather than
wall time, so two uses within one clock tick, or from clients whose clocks differ, still have a strict order,
and the session evicted is the least recently used one by the server's own order of operations. Creating a
session when ``capacity`` are held first sweeps the expired ones (``<prefix>:upd``), then removes the
lowest-scored sessions of ``<prefix>:lru`` until there is room.

**Atomicity.** Every operation is one Lua script (``EVALSHA``), which Redis runs without interleaving any
other command: the read of the previous state, the write, the index updates and the evictions are one step.
An append with ``step`` must run the caller's Python between the read and the write; it ``WATCH``es the
session's two keys, reads them, calls ``step``, and runs the append script inside ``MULTI``/``EXEC``; when
another client touched the session in between (an append, an eviction, an expiry), ``EXEC`` aborts and the
whole append is retried, so ``step`` always sees the immediately preceding update's vector (it may be called
more than once; it must be a pure function). The scripts name keys built from ``prefix``, so the store wants a
single Redis server (not a cluster).

A client that cannot reach Redis raises :class:`~recaudit.errors.RecauditInputError` naming the URL, one line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import redis
from redis.exceptions import RedisError, WatchError

from recaudit.errors import RecauditInputError
from recaudit.realtime.store import (
    Clock,
    SessionState,
    SessionStore,
    Step,
    check_bounds,
    check_item_row,
    check_key,
    check_timestamp,
    frozen_vector,
)

__all__ = ["RedisSessionStore"]

_VEC_DTYPE = np.dtype("<f4")

_LUA_COMMON = """
local P = ARGV[1]
local LRU = P .. ':lru'
local UPD = P .. ':upd'
local function ikey(k) return P .. ':items:' .. k end
local function mkey(k) return P .. ':meta:' .. k end
local function remove(k)
  redis.call('DEL', ikey(k), mkey(k))
  redis.call('ZREM', LRU, k)
  redis.call('ZREM', UPD, k)
end
local function sweep(cutoff, limit)
  local old = redis.call('ZRANGEBYSCORE', UPD, '-inf', cutoff, 'LIMIT', 0, limit)
  for _, k in ipairs(old) do remove(k) end
  return #old
end
local function sweep_all(cutoff)
  local total = 0
  while true do
    local n = sweep(cutoff, 1000)
    total = total + n
    if n < 1000 then return total end
  end
end
local function live(k, now, ttl)
  local upd = redis.call('HGET', mkey(k), 'updated_at')
  if not upd then
    remove(k)
    return false
  end
  if tonumber(upd) <= now - ttl then
    remove(k)
    return false
  end
  return true
end
local function touch(k)
  redis.call('ZADD', LRU, redis.call('INCR', P .. ':seq'), k)
end
local function snapshot(k)
  local meta = redis.call('HMGET', mkey(k), 'updated_at', 'event_time', 'vec')
  return {redis.call('LRANGE', ikey(k), 0, -1), meta[1], meta[2], meta[3]}
end
"""

# ARGV: prefix, key, row, event_time, now, ttl, capacity, ttl_ms, vec_mode ('keep'|'set'), vec, expected_len
_APPEND = _LUA_COMMON + """
local k, now, ttl, cap, ttl_ms = ARGV[2], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
sweep(now - ttl, 64)
local exists = live(k, now, ttl)
if ARGV[11] ~= '-1' then
  local n = 0
  if exists then n = redis.call('LLEN', ikey(k)) end
  if n ~= tonumber(ARGV[11]) then return false end
end
if not exists then
  if redis.call('ZCARD', LRU) >= cap then sweep_all(now - ttl) end
  while redis.call('ZCARD', LRU) >= cap do
    local oldest = redis.call('ZRANGE', LRU, 0, 0)[1]
    remove(oldest)
  end
end
redis.call('RPUSH', ikey(k), ARGV[3])
redis.call('HSET', mkey(k), 'updated_at', ARGV[5], 'event_time', ARGV[4])
if ARGV[9] == 'set' then redis.call('HSET', mkey(k), 'vec', ARGV[10]) end
redis.call('PEXPIRE', ikey(k), ttl_ms)
redis.call('PEXPIRE', mkey(k), ttl_ms)
redis.call('ZADD', UPD, ARGV[5], k)
touch(k)
return snapshot(k)
"""

# ARGV: prefix, key, now, ttl
_GET = _LUA_COMMON + """
local k = ARGV[2]
if not live(k, tonumber(ARGV[3]), tonumber(ARGV[4])) then return false end
touch(k)
return snapshot(k)
"""

# ARGV: prefix, key, now, ttl, ttl_ms, vec, expected_len
_SET_VECTOR = _LUA_COMMON + """
local k = ARGV[2]
if not live(k, tonumber(ARGV[3]), tonumber(ARGV[4])) then return false end
if redis.call('LLEN', ikey(k)) ~= tonumber(ARGV[7]) then return false end
redis.call('HSET', mkey(k), 'updated_at', ARGV[3], 'vec', ARGV[6])
redis.call('PEXPIRE', ikey(k), ARGV[5])
redis.call('PEXPIRE', mkey(k), ARGV[5])
redis.call('ZADD', UPD, ARGV[3], k)
touch(k)
return snapshot(k)
"""

# ARGV: prefix, key, now, ttl
_DROP = _LUA_COMMON + """
local was = live(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
remove(ARGV[2])
if was then return 1 end
return 0
"""

# ARGV: prefix, now, ttl, count ('0'|'1')
_SWEEP = _LUA_COMMON + """
local freed = sweep_all(tonumber(ARGV[2]) - tonumber(ARGV[3]))
if ARGV[4] == '1' then return redis.call('ZCARD', LRU) end
return freed
"""


def _num(value: float) -> str:
    return repr(float(value))


class RedisSessionStore(SessionStore):
    """Session state in one Redis server (see the module docstring for the layout and the contract).

    Args:
        url: ``redis://host:port/db``; ignored when ``client`` is given.
        ttl_s, capacity: the bounds, as for the in-process store.
        prefix: the key prefix; stores with different prefixes are independent.
        clock: seconds, shared by every client of the server (default :func:`time.time`).
        client: an existing ``redis.Redis`` (``decode_responses=False``), e.g. to share a pool.
        socket_timeout: seconds before a silent server counts as unreachable.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        ttl_s: float = 1800.0,
        capacity: int = 100_000,
        prefix: str = "recaudit:session",
        clock: Clock = time.time,
        client: redis.Redis | None = None,
        socket_timeout: float = 2.0,
    ) -> None:
        self.ttl_s, self.capacity = check_bounds(ttl_s, capacity, source=url)
        self._ttl_ms = str(max(1, math.ceil(self.ttl_s * 1000)))
        self._url = url
        self._prefix = prefix
        self._clock = clock
        self._owns_client = client is None
        with self._errors():
            self._client = client or redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
            self._client.ping()
        register = self._client.register_script
        self._append = register(_APPEND)
        self._get = register(_GET)
        self._set_vector = register(_SET_VECTOR)
        self._drop = register(_DROP)
        self._sweep = register(_SWEEP)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RecauditInputError(
                self._url, f"cannot reach Redis: {exc}", "start redis-server or use the in-process store"
            ) from None
        except RedisError as exc:
            raise RecauditInputError(self._url, f"Redis error: {exc}") from None

    def _keys(self, key: str) -> tuple[str, str]:
        return f"{self._prefix}:items:{key}", f"{self._prefix}:meta:{key}"

    def _state(self, key: str, reply: object) -> SessionState | None:
        if not reply:
            return None
        items, updated_at, event_time, vec = reply  # type: ignore[misc]
        vector = None if vec is None else frozen_vector(np.frombuffer(vec, dtype=_VEC_DTYPE))
        return SessionState(key, tuple(int(i) for i in items), float(updated_at), float(event_time), vector)

    @staticmethod
    def _vec_bytes(vector: np.ndarray) -> bytes:
        return np.ascontiguousarray(vector, dtype=_VEC_DTYPE).tobytes()

    def append(
        self, session_key: str, item_row: int, timestamp: float, *, step: Step | None = None
    ) -> SessionState:
        key = check_key(session_key, source=self._url)
        row = check_item_row(item_row, source=self._url)
        event_time = check_timestamp(timestamp, source=self._url)
        common = (self._prefix, key, str(row), _num(event_time))
        bounds = (_num(self.ttl_s), str(self.capacity), self._ttl_ms)
        with self._errors():
            if step is None:
                now = _num(self._clock())
                reply = self._append(args=(*common, now, *bounds, "keep", b"", "-1"))
                return self._state(key, reply)  # type: ignore[return-value]
            return self._append_with_step(key, row, common, bounds, step)

    def _append_with_step(
        self, key: str, row: int, common: tuple[str, ...], bounds: tuple[str, ...], step: Step
    ) -> SessionState:
        items_key, meta_key = self._keys(key)
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(items_key, meta_key)
                    now = float(self._clock())
                    updated_at, vec = pipe.hmget(meta_key, "updated_at", "vec")
                    if updated_at is None or float(updated_at) <= now - self.ttl_s:
                        previous_items: tuple[int, ...] = ()
                        previous_vector = None
                    else:
                        previous_items = tuple(int(i) for i in pipe.lrange(items_key, 0, -1))
                        previous_vector = (
                            None if vec is None else frozen_vector(np.frombuffer(vec, dtype=_VEC_DTYPE))
                        )
                    vector = frozen_vector(step(previous_vector, (*previous_items, row)), source=self._url)
                    pipe.multi()
                    self._append(
                        args=(*common, _num(now), *bounds, "set", self._vec_bytes(vector),
                              str(len(previous_items))),
                        client=pipe,
                    )
                    (reply,) = pipe.execute()
                except WatchError:
                    continue
                if reply:
                    return self._state(key, reply)  # type: ignore[return-value]
                pipe.reset()

    def get(self, session_key: str) -> SessionState | None:
        key = check_key(session_key, source=self._url)
        with self._errors():
            reply = self._get(args=(self._prefix, key, _num(self._clock()), _num(self.ttl_s)))
        return self._state(key, reply)

    def set_vector(self, session_key: str, vector: np.ndarray, *, expected_len: int) -> SessionState | None:
        key = check_key(session_key, source=self._url)
        frozen = frozen_vector(vector, source=self._url)
        args = (self._prefix, key, _num(self._clock()), _num(self.ttl_s), self._ttl_ms,
                self._vec_bytes(frozen), str(int(expected_len)))
        with self._errors():
            reply = self._set_vector(args=args)
        return self._state(key, reply)

    def drop(self, session_key: str) -> bool:
        key = check_key(session_key, source=self._url)
        with self._errors():
            return bool(self._drop(args=(self._prefix, key, _num(self._clock()), _num(self.ttl_s))))

    def sweep(self) -> int:
        with self._errors():
            return int(self._sweep(args=(self._prefix, _num(self._clock()), _num(self.ttl_s), "0")))

    def __len__(self) -> int:
        with self._errors():
            return int(self._sweep(args=(self._prefix, _num(self._clock()), _num(self.ttl_s), "1")))

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
