"""The home and pages benchmarks time each Hubfront page right beside a request of stock's home."""

import time

from bench.stats import paired


def test_every_call_of_a_side_is_beside_one_of_the_base_the_order_flipping_each_round():
    calls = []
    samples = paired(2, "stock", ["home", "jobs"], lambda side: calls.append(side) or len(calls), 2)
    assert calls == ["stock", "home", "stock", "jobs"] * 2 + ["home", "stock", "jobs", "stock"] * 2
    assert samples["home"] == [2, 6, 9, 13] and samples["jobs"] == [4, 8, 11, 15]
    assert samples["stock"] == [1, 3, 5, 7, 10, 12, 14, 16]


def test_a_deadline_ends_the_rounds_with_every_side_measured():
    calls = []
    samples = paired(5, "stock", ["a", "b"], lambda side: calls.append(side) or 0.0, 100,
                     deadline=time.monotonic() - 1)
    assert calls == ["stock", "a", "stock", "b"]  # past it at once: one turn, so that every side has a figure
    assert samples == {"stock": [0.0, 0.0], "a": [0.0], "b": [0.0]}
