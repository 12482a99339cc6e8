"""Token buckets keyed by a string (a trigger, a client address), and the client address itself.

Buckets live in this process only: with N gateway replicas a client can reach N
times the configured rate. That is the usual trade for a limiter that costs no
network round trip; a shared limit belongs in front of the gateways.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from typing import Final

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Enough for every client of a busy gateway; past it the least recently used bucket
# is dropped, which forgets that client's debt (it starts again with a full bucket).
DEFAULT_MAX_KEYS: Final = 100_000


class TokenBuckets:
    """One token bucket per key: `rate` tokens a second, holding at most `burst`.

    `take` spends a token and answers 0, or answers how many seconds until a token
    is available. A key's rate and burst may be given per call (a trigger's own
    `rateLimitPerMinute`), else the defaults apply.
    """

    __slots__ = ("_buckets", "_burst", "_clock", "_max_keys", "_rate")

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        # key -> (tokens, updated at); insertion order is recency order.
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float | None = None, burst: float | None = None) -> float:
        """Spend one token of `key`'s bucket: 0.0 when allowed, else seconds to wait."""
        rate = rate or self._rate
        capacity = burst or self._burst
        now = self._clock()
        state = self._buckets.pop(key, None)
        if state is None:
            tokens = capacity
        else:
            tokens = min(capacity, state[0] + (now - state[1]) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self._max_keys:
                del self._buckets[next(iter(self._buckets))]
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_seconds(wait: float) -> int:
    """`Retry-After` is whole seconds; round up so a client that obeys it gets through."""
    return max(1, math.ceil(wait))


def client_address(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The address of the client: the TCP peer, or, behind a trusted proxy, what it saw.

    `X-Forwarded-For` is read right to left, skipping the trusted proxies' own
    entries: the first address a trusted proxy did not add itself is the client.
    Entries further left were written by the client and prove nothing.
    """
    peer = request.client.host if request.client is not None else ""
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            # A hop that is not an address is still a stable key for its sender.
            return hop or peer
    # Every hop is a trusted proxy: the leftmost is the closest thing to a client.
    return hops[0] or peer


def _is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)
