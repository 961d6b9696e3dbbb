"""One bounded, ordered thread pool for the stages that work image by image (pure: no Dagster).

Cataloguing, hashing and classifying all read, decode and compute one image per call; Pillow,
hashlib, numba and onnxruntime release the GIL, so a few threads use every core. They need the
same three things from a pool: results in input order (so a batch can be written as it was
listed), a bound on how far ahead of the consumer the input is pulled (so memory holds a few
images, not a collection), and a clean stop when the consumer stops early (queued work is
cancelled, running work finishes).
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class OrderedExecutor:
    """``map`` with ``workers`` threads, results in input order, at most ``max_in_flight`` items
    (default: 4 per worker, never fewer than ``workers``) submitted ahead of the consumer.

    With one worker, ``map`` runs in the calling thread and no pool is started. Use it as a
    context manager; leaving it cancels what is queued and waits for what is running.
    """

    def __init__(
        self, workers: int, max_in_flight: int | None = None, thread_name_prefix: str = ""
    ):
        self.workers = max(1, int(workers))
        window = max_in_flight if max_in_flight is not None else 4 * self.workers
        self.max_in_flight = max(self.workers, int(window))
        self._pool = (
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=thread_name_prefix)
            if self.workers > 1
            else None
        )

    def __enter__(self) -> "OrderedExecutor":
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for every item, yielded in input order; an exception ``fn`` raises is
        raised here, at its item's turn. ``items`` is pulled lazily, one item per result."""
        if self._pool is None:
            for item in items:
                yield fn(item)
            return
        pending: deque[Future] = deque()
        try:
            for item in items:
                pending.append(self._pool.submit(fn, item))
                if len(pending) >= self.max_in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the consumer stopped early: drop what has not started
                future.cancel()
