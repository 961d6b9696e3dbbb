"""Retrying transient blob-store errors with exponential backoff (pure, no Dagster).

Every stage that talks to a blob store goes through here, so "transient" means the same thing
for the catalog's reads, publishing's uploads and the nightly's downloads: network trouble and
throttling are retried; a missing blob, a refused name or a permission is not (retrying cannot
change it, and the caller quarantines or reports it).
"""

import random
import time
from collections.abc import Callable
from typing import Any


def is_transient(exc: BaseException) -> bool:
    """Network trouble and throttling are worth retrying; anything else is not."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        from azure.core.exceptions import (
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )
    except ImportError:  # pragma: no cover - azure-core is a dependency
        return False
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in (408, 429, 500, 502, 503, 504)
    return False


def with_retries(
    fn: Callable[[], Any],
    attempts: int = 4,
    base_delay_s: float = 0.5,
    transient: Callable[[BaseException], bool] = is_transient,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> Any:
    """``fn()``, tried up to ``attempts`` times while it fails transiently; waits
    ``base_delay_s * 2**(n-1)`` (±50% jitter) before try n+1. The last error propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            delay = base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random())
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
