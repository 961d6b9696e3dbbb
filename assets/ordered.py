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

    def map_in_runs(self, fn: Callable[[T], R], items: Iterable[T], run: int) -> Iterator[R]:
        """``map``, with each pool task calling ``fn`` on a run of up to ``run`` consecutive
        items (fewer as the input runs out, so the workers finish together): a round trip
        through the pool costs tens of microseconds of Python with the GIL held, which per item
        is lost from every worker. ``max_in_flight`` still bounds the items pulled ahead of the
        consumer; an exception ``fn`` raises is raised at its item's turn."""
        run = max(1, min(int(run), self.max_in_flight // (3 * self.workers)))
        if self._pool is None or run == 1:
            yield from self.map(fn, items)
            return
        tasks = max(self.workers, (2 * self.max_in_flight) // (3 * run))
        lookahead = max(0, self.max_in_flight - (tasks + 1) * run)

        def run_of(chunk: list[T]) -> list[tuple[R | None, BaseException | None]]:
            done: list[tuple[R | None, BaseException | None]] = []
            for item in chunk:
                try:
                    done.append((fn(item), None))
                except BaseException as exc:  # raised to the consumer at this item's turn
                    done.append((None, exc))
                    break
            return done

        pending: deque[Future] = deque()
        try:
            for chunk in runs(items, run, lookahead, self.workers):
                pending.append(self._pool.submit(run_of, chunk))
                if len(pending) >= tasks:
                    for result, exc in pending.popleft().result():
                        if exc is not None:
                            raise exc
                        yield result
            while pending:
                for result, exc in pending.popleft().result():
                    if exc is not None:
                        raise exc
                    yield result
        finally:
            for future in pending:
                future.cancel()


def runs(items: Iterable[T], size: int, lookahead: int, workers: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size``, pulled lazily; the last ``lookahead`` items, once the input
    has ended, in lists small enough to spread them over ``workers``."""
    queued: deque[T] = deque()
    source = iter(items)
    ended = False
    while True:
        while not ended and len(queued) < lookahead + size:
            try:
                queued.append(next(source))
            except StopIteration:
                ended = True
        if not queued:
            return
        take = size if not ended else max(1, min(size, len(queued) // (2 * workers)))
        yield [queued.popleft() for _ in range(min(take, len(queued)))]
