"""How a step is retried (`RetryPolicy`) and how partitions are batched (`BatchPolicy`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from assay.errors import DefinitionError


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retry a failed step up to `max_retries` times.

    The wait before retry n (1-based) is `delay * backoff ** (n - 1)` seconds,
    spread by up to ±`jitter` of itself so that many failed partitions do not
    retry at the same instant (against a rate-limited API, say).

    Example:
        >>> policy = RetryPolicy(max_retries=3, delay=1.0, backoff=2.0, jitter=0.0)
        >>> [policy.wait_before(n) for n in (1, 2, 3)]
        [1.0, 2.0, 4.0]
    """

    max_retries: int = 0
    delay: float = 0.0
    backoff: float = 1.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise DefinitionError(
                f"RetryPolicy(max_retries={self.max_retries!r}): give a whole number >= 0"
            )
        if self.delay < 0:
            raise DefinitionError(f"RetryPolicy(delay={self.delay!r}): give seconds >= 0")
        if self.backoff < 1:
            raise DefinitionError(
                f"RetryPolicy(backoff={self.backoff!r}): give a factor >= 1 (1 keeps the delay)"
            )
        if not 0 <= self.jitter <= 1:
            raise DefinitionError(
                f"RetryPolicy(jitter={self.jitter!r}): give a fraction between 0 and 1"
            )

    def wait_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        base = self.delay * self.backoff ** max(retry - 1, 0)
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, 0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchPolicy:
    """Let one call of the asset compute up to `max_partitions` consecutive partitions.

    The function gets `context.partition_keys` (and, for time partitions,
    `context.partition_time_window` spanning the whole batch) and returns one
    frame holding every partition's rows; `partition_column` names the column
    that says which partition a row belongs to: the partition key as a string,
    or a date or datetime inside the partition's time window. assay stores each
    partition separately, with its own data version.

    Example:
        >>> BatchPolicy(max_partitions=31, partition_column="day").max_partitions
        31
    """

    max_partitions: int
    partition_column: str

    def __post_init__(self) -> None:
        if not isinstance(self.max_partitions, int) or self.max_partitions < 1:
            raise DefinitionError(
                f"BatchPolicy(max_partitions={self.max_partitions!r}): give a whole number >= 1"
            )
        if not isinstance(self.partition_column, str) or not self.partition_column:
            raise DefinitionError(
                "BatchPolicy(partition_column=...): name the output column that holds "
                "each row's partition"
            )
