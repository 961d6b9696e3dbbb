"""The ordered pool's runs: one task per run of items, results still one per item in order."""

import threading

import pytest

from assets.ordered import OrderedExecutor


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 100, 1001])
def test_map_in_runs_yields_every_item_once_in_input_order(count):
    with OrderedExecutor(2, max_in_flight=64) as pool:
        assert list(pool.map_in_runs(lambda x: x * x, range(count), 8)) == [
            x * x for x in range(count)
        ]


def test_map_in_runs_pulls_at_most_the_window_ahead_of_the_consumer():
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield i

    with OrderedExecutor(2, max_in_flight=48) as pool:
        stream = pool.map_in_runs(lambda x: x, items(), 8)
        for expected in range(200):
            assert next(stream) == expected
            assert pulled - expected <= 48 + 8, (expected, pulled)
        stream.close()


def test_map_in_runs_hands_each_task_a_run_of_consecutive_items():
    threads: dict[int, str] = {}

    def record(x):
        threads[x] = threading.current_thread().name
        return x

    with OrderedExecutor(2, max_in_flight=96, thread_name_prefix="runs") as pool:
        assert list(pool.map_in_runs(record, range(400), 8)) == list(range(400))
    # Before the tail, every aligned run of 8 ran on one thread, from start to end.
    for start in range(0, 200, 8):
        assert len({threads[x] for x in range(start, start + 8)}) == 1


def test_map_in_runs_raises_an_error_at_its_items_turn_after_the_items_before_it():
    def fail_on_13(x):
        if x == 13:
            raise RuntimeError("thirteen")
        return x

    seen = []
    with (
        OrderedExecutor(2, max_in_flight=64) as pool,
        pytest.raises(RuntimeError, match="thirteen"),
    ):
        for x in pool.map_in_runs(fail_on_13, range(100), 8):
            seen.append(x)
    assert seen == list(range(13))
