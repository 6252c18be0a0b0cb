"""Sign-in back-off: failed guesses slow the guesser down, never lock the account holder out.

Three counters, each (attempts admitted, earliest time of the next attempt), keyed by HMACs
(portal.limits.opaque_key), in Redis when `redis_url` is set (shared by every worker) and in
the process's memory otherwise:

- the pair (login, client): `login_free_attempts` attempts, then each must wait 1, 2, 4, ...
  seconds after the previous one, up to `login_backoff_max`;
- the client over every login (someone trying many logins): the same back-off after four
  times as many attempts;
- the login over every client: its count adds at most ACCOUNT_WAIT_MAX (60 s) to the wait of
  the client that just tried. It never refuses a client that has not tried itself, so wrong
  passphrases sent from elsewhere never keep the holder out for more than a minute, and a
  guesser with many clients still waits up to a minute between its guesses from each.

`attempt` checks and counts in one atomic step (a Lua script in Redis, a lock in memory),
on the way in and before any passphrase or code is looked at, so parallel guesses cannot
exceed the budget: a refused attempt changes nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

ACCOUNT_WAIT_MAX = 60
CLIENT_FREE_FACTOR = 4
QUIET_RESET = 3600  # seconds without an attempt after which a counter is forgotten

_SCRIPT = """
local now = tonumber(ARGV[1])
local function load(key)
  local v = redis.call('HMGET', key, 'n', 'next')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end
local pn, pnext = load(KEYS[1])
local cn, cnext = load(KEYS[2])
local an = load(KEYS[3])
local blocked = math.max(pnext, cnext)
if now < blocked then return blocked - now end
local function wait(n, free, cap)
  if n < free then return 0 end
  return math.min(2 ^ math.min(n - free, 30), cap) * 1000
end
local free, cap, acap, cfree, quiet = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
pn, cn, an = pn + 1, cn + 1, an + 1
local pwait = math.max(wait(pn, free, cap), wait(an, free, acap))
local cwait = wait(cn, cfree, cap)
redis.call('HSET', KEYS[1], 'n', pn, 'next', now + pwait)
redis.call('PEXPIRE', KEYS[1], pwait + quiet)
redis.call('HSET', KEYS[2], 'n', cn, 'next', now + cwait)
redis.call('PEXPIRE', KEYS[2], cwait + quiet)
redis.call('HSET', KEYS[3], 'n', an)
redis.call('PEXPIRE', KEYS[3], quiet)
return 0
"""

_FORGIVE = """
local pn = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
redis.call('DEL', KEYS[1], KEYS[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local cn = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'n') or '0') - pn)
  redis.call('HSET', KEYS[2], 'n', cn)
  if cn < tonumber(ARGV[1]) then redis.call('HSET', KEYS[2], 'next', 0) end
end
return 0
"""


def _wait_ms(n: int, free: int, cap_seconds: int) -> int:
    return 0 if n < free else min(2 ** min(n - free, 30), cap_seconds) * 1000


@dataclass(frozen=True)
class Keys:
    pair: str
    client: str
    account: str


class Backoff:
    """The three counters of `Keys`, atomically checked and counted."""

    def __init__(self, redis_url: str | None, free: int, cap_seconds: int, prefix: str = "portal:backoff:") -> None:
        self.free = max(1, free)
        self.cap = max(1, cap_seconds)
        self.prefix = prefix
        self._redis = None
        self._script = None
        self._memory: dict[str, tuple[int, int, float]] = {}  # key -> (n, next ms, forget at)
        self._lock = threading.Lock()
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._script = self._redis.register_script(_SCRIPT)
            self._forgive_script = self._redis.register_script(_FORGIVE)

    def _names(self, keys: Keys) -> list[str]:
        return [self.prefix + k for k in (keys.pair, keys.client, keys.account)]

    def attempt(self, keys: Keys, now: float | None = None) -> float:
        """Count one attempt and return 0, or refuse it (counting nothing) and return the seconds to wait."""
        now_ms = int((time.time() if now is None else now) * 1000)
        quiet = QUIET_RESET * 1000
        args = [now_ms, self.free, self.cap, ACCOUNT_WAIT_MAX, self.free * CLIENT_FREE_FACTOR, quiet]
        if self._script is not None:
            return int(self._script(keys=self._names(keys), args=args)) / 1000
        pair, client, account = self._names(keys)
        with self._lock:
            if len(self._memory) > 100_000:
                self._memory = {k: v for k, v in self._memory.items() if v[2] > now_ms}
            (pn, pnext), (cn, cnext), (an, _) = (self._get(k, now_ms) for k in (pair, client, account))
            blocked = max(pnext, cnext)
            if now_ms < blocked:
                return (blocked - now_ms) / 1000
            pn, cn, an = pn + 1, cn + 1, an + 1
            pwait = max(_wait_ms(pn, self.free, self.cap), _wait_ms(an, self.free, ACCOUNT_WAIT_MAX))
            cwait = _wait_ms(cn, self.free * CLIENT_FREE_FACTOR, self.cap)
            self._memory[pair] = (pn, now_ms + pwait, now_ms + pwait + quiet)
            self._memory[client] = (cn, now_ms + cwait, now_ms + cwait + quiet)
            self._memory[account] = (an, 0, now_ms + quiet)
            return 0.0

    def _get(self, key: str, now_ms: int) -> tuple[int, int]:
        n, next_ms, forget = self._memory.get(key, (0, 0, 0))
        return (n, next_ms) if forget > now_ms else (0, 0)

    def count(self, key: str) -> int:
        """Attempts counted under one key (tests, diagnostics)."""
        if self._redis is not None:
            return int(self._redis.hget(self.prefix + key, "n") or 0)
        return self._get(self.prefix + key, int(time.time() * 1000))[0]

    def forgive(self, keys: Keys) -> None:
        """A complete sign-in: forget the pair and the login's counts, and take this login's attempts
        off the client's count (a workstation where reviewers sign in all day is never slowed down;
        someone who signs in to their own account keeps the count of their guesses at others)."""
        pair, client, account = self._names(keys)
        if self._script is not None:
            self._forgive_script(keys=[pair, client, account], args=[self.free * CLIENT_FREE_FACTOR])
            return
        with self._lock:
            pn = self._memory.pop(pair, (0, 0, 0))[0]
            self._memory.pop(account, None)
            if client in self._memory:
                cn, cnext, forget = self._memory[client]
                cn = max(0, cn - pn)
                self._memory[client] = (cn, cnext if cn >= self.free * CLIENT_FREE_FACTOR else 0, forget)
