"""Per-org token buckets. In-process: each server (or warm Lambda) limits on its own."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    rate: float = 100.0  # tokens per second, refilled continuously
    burst: int = 400

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"rate limit needs rate > 0 and burst >= 1, got rate={self.rate} burst={self.burst}")


class RateLimiter:
    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> int:
        """Spend `cost` tokens; 0 when allowed, else the whole seconds to wait (the Retry-After value)."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((cost - tokens) / self.limit.rate))
