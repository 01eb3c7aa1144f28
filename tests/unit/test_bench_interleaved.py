"""The home and pages benchmarks time both sides at the same moments: one request of each in turn."""

import time

from bench.stats import interleaved


def test_each_round_takes_one_of_each_side_in_turn_the_order_flipping():
    calls = []
    samples = interleaved(2, ["hubfront", "stock"], lambda side: calls.append(side) or len(calls), 3)
    assert calls == ["hubfront", "stock"] * 3 + ["stock", "hubfront"] * 3
    assert samples == {"hubfront": [1, 3, 5, 8, 10, 12], "stock": [2, 4, 6, 7, 9, 11]}


def test_a_deadline_ends_the_rounds_with_both_sides_measured_alike():
    calls = []
    samples = interleaved(5, ["a", "b", "c"], lambda side: calls.append(side) or 0.0, 100,
                          deadline=time.monotonic() - 1)
    assert calls == ["a", "b", "c"]  # past it at once: one turn, so that every side has a figure
    assert samples == {"a": [0.0], "b": [0.0], "c": [0.0]}
