"""Where two models differ: the test sentences ranked by the difference of their sentence scores.

    rank_differences(bleu_a, bleu_b, order="either", lengths=..., length_range=(10, 20), rarest=...,
                     rarest_bucket=0)     # [(sentence index, a − b), ...], the largest differences first

The scores are each model's sentence BLEU or chrF of the same test sentences (``outputs.py`` stores them).
Filters keep the sentences whose source length lies in ``length_range`` (inclusive; None: no bound) and whose
rarest source word's training count falls in bucket ``rarest_bucket`` of ``cutoffs`` (``buckets.RAREST_CUTOFFS``;
0: a word never seen in training). Sentences the two models score the same are never listed.
"""

from __future__ import annotations

from .buckets import RAREST_CUTOFFS, bucket_of

ORDERS = {"a": "where A is better", "b": "where B is better", "either": "the largest differences either way"}


def rank_differences(a: list[float], b: list[float], order: str = "either", lengths: list[int] | None = None,
                     length_range: tuple[int | None, int | None] = (None, None), rarest: list[int] | None = None,
                     rarest_bucket: int | None = None, cutoffs=RAREST_CUTOFFS,
                     limit: int | None = None) -> list[tuple[int, float]]:
    """(index, a − b) of the sentences that pass the filters, ranked: ``order`` "a" lists the sentences A scores
    higher, largest difference first; "b" those B scores higher; "either" both, by the size of the difference.
    Ties keep the test set's order. ``limit``: at most that many."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if len(a) != len(b):
        raise ValueError(f"the two models scored different numbers of sentences ({len(a)} and {len(b)})")
    low, high = length_range
    kept = []
    for i, (x, y) in enumerate(zip(a, b)):
        d = x - y
        if d == 0 or (order == "a" and d < 0) or (order == "b" and d > 0):
            continue
        if lengths is not None and ((low is not None and lengths[i] < low) or (high is not None and lengths[i] > high)):
            continue
        if rarest is not None and rarest_bucket is not None and bucket_of(rarest[i], cutoffs) != rarest_bucket:
            continue
        kept.append((i, d))
    kept.sort(key=lambda item: -abs(item[1]))      # stable: ties stay in test-set order
    return kept[:limit] if limit is not None else kept
