"""Token buckets and the client address behind proxies: pure, no server."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from gateway.ratelimit import TokenBuckets, client_address, retry_after_seconds


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)

    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    clock.now += 60
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") > 0


def test_refused_requests_do_not_spend_tokens() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    assert buckets.take("a") == 0.0
    for _ in range(10):
        assert buckets.take("a") > 0
    clock.now += 1.0
    assert buckets.take("a") == 0.0


def test_keys_have_separate_buckets() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=ManualClock())
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0
    assert buckets.take("a") > 0


def test_per_call_rate_and_burst_override_the_defaults() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=1000.0, burst=1000, clock=clock)
    per_minute = 6
    answers = [buckets.take("t", per_minute / 60, per_minute) for _ in range(7)]
    assert answers[:6] == [0.0] * 6
    assert answers[6] == pytest.approx(10.0)


def test_bucket_count_is_bounded_dropping_the_least_recently_used() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(rate=0.001, burst=1, max_keys=3, clock=clock)
    for key in "abc":
        buckets.take(key)
    buckets.take("a")  # refused, but "a" is now the most recently used
    buckets.take("d")
    assert len(buckets) == 3
    assert buckets.take("a") > 0  # still remembered
    assert buckets.take("b") == 0.0  # forgotten, so full again


def test_bucket_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBuckets(rate=1, burst=0)


@pytest.mark.parametrize(("wait", "header"), [(0.01, 1), (1.0, 1), (1.2, 2), (59.5, 60)])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def request_from(peer: str | None, forwarded: str | None = None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode("latin-1"))]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": headers,
        "client": (peer, 5000) if peer is not None else None,
    }
    return Request(scope)


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        # Not from a trusted proxy: the header is the client's own claim, ignored.
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        ("10.1.2.3", None, "10.1.2.3"),
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1"),
        ("10.1.2.3", "10.4.4.4, 10.9.9.9", "10.4.4.4"),
        ("10.1.2.3", "garbage", "garbage"),
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", " , ", "10.1.2.3"),
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        (None, "198.51.100.1", ""),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_address(request_from(peer, forwarded), PROXIES) == expected


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_address(request_from("10.1.2.3", "198.51.100.1"), ()) == "10.1.2.3"
