"""The scale-out queue on Redis lists.

Keys (prefix ``netatlas:``): ``q:<name>`` the list of waiting items; ``qi:<name>:<id>`` the
items of one claimed batch; ``qb:<name>`` a hash of claimed batch ids → delivery attempts;
``ql:<name>`` a sorted set of batch ids scored by lease deadline. Claim, ack and commit are
each one Lua script or MULTI/EXEC, so a crash of the client at any point leaves every item
either waiting, in exactly one claimed batch, or done. Durability of Redis itself is the
operator's choice (``appendonly yes`` in production).

Lease deadlines are seconds since the epoch by the queue's clock: the client computes each
deadline and stores it as the score, and the claim script compares scores with the client's
``now``; Redis's own ``TIME`` is never read, so a test can run a lease out with a manual clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis
from redis.exceptions import RedisError

from netatlas.clock import Clock, system_clock
from netatlas.queue.base import Batch, QueueUnavailable

PREFIX = "netatlas:"

# KEYS: list, attempts hash, lease zset. ARGV: now, lease seconds, limit, items prefix, new id.
# Ids are fresh UUIDs rather than a Redis counter, so a Redis that lost its data can never hand
# out an id that was already recorded as applied.
_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #expired > 0 then
  local id = expired[1]
  redis.call('ZADD', KEYS[3], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  local attempts = redis.call('HINCRBY', KEYS[2], id, 1)
  return {id, redis.call('LRANGE', ARGV[4] .. id, 0, -1), attempts}
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
if #items == 0 then
  return false
end
redis.call('LTRIM', KEYS[1], #items, -1)
local id = ARGV[5]
redis.call('RPUSH', ARGV[4] .. id, unpack(items))
redis.call('HSET', KEYS[2], id, 1)
redis.call('ZADD', KEYS[3], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
return {id, items, 1}
"""


class RedisQueue:
    def __init__(self, url: str, lease_seconds: float = 300.0, clock: Clock = system_clock) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._claim = self.client.register_script(_CLAIM)

    @staticmethod
    def _keys(queue: str) -> tuple[str, str, str]:
        return (PREFIX + "q:" + queue, PREFIX + "qb:" + queue, PREFIX + "ql:" + queue)

    @staticmethod
    def _items_prefix(queue: str) -> str:
        return PREFIX + "qi:" + queue + ":"

    def push(self, queue: str, items: Sequence[bytes]) -> None:
        if not items:
            return
        try:
            self.client.rpush(self._keys(queue)[0], *items)
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc

    def claim(self, queue: str, limit: int) -> Batch | None:
        lst, batches, leases = self._keys(queue)
        try:
            result = self._claim(
                keys=[lst, batches, leases],
                args=[
                    self.clock(),
                    self.lease_seconds,
                    limit,
                    self._items_prefix(queue),
                    uuid.uuid4().hex,
                ],
            )
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc
        if not result:
            return None
        res = cast(list[Any], result)
        batch_id = res[0].decode()
        items = [bytes(x) for x in res[1]]
        return Batch(batch_id, queue, items, int(res[2]))

    def ack(self, batch: Batch) -> None:
        self.commit(batch, {})

    def commit(self, batch: Batch, pushes: Mapping[str, Sequence[bytes]]) -> None:
        _, batches, leases = self._keys(batch.queue)
        raw_id = batch.id
        try:
            with self.client.pipeline(transaction=True) as pipe:
                for name, items in pushes.items():
                    if items:
                        pipe.rpush(self._keys(name)[0], *items)
                pipe.hdel(batches, raw_id)
                pipe.delete(self._items_prefix(batch.queue) + raw_id)
                pipe.zrem(leases, raw_id)
                pipe.execute()
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc

    def size(self, queue: str) -> int:
        lst, batches, _ = self._keys(queue)
        waiting: int = self.client.llen(lst)
        prefix = self._items_prefix(queue)
        claimed = 0
        for key in cast(dict[bytes, bytes], self.client.hgetall(batches)):
            claimed += self.client.llen(prefix + key.decode())
        return waiting + claimed

    def queues(self) -> list[str]:
        names: set[str] = set()
        for pattern in ("q:*", "ql:*"):
            for key in self.client.scan_iter(match=PREFIX + pattern, count=500):
                name = key.decode()[len(PREFIX) :].split(":", 1)[1]
                if pattern == "q:*" or self.client.zcard(key):
                    names.add(name)
        return sorted(names)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except RedisError:
            return False
