"""The noise test `report compare` applies to throughput figures: a one-sided Mann-Whitney U
rank test on the repeats of the two bundles.

Why a rank test: throughput repeats on a shared machine are not normal (one slow run in four is
common), so a t-test would be misled by one outlier; ranks are not. The exact distribution of U
(no normal approximation) is used for the small repeat counts a CI run has: with 4 repeats on
each side the smallest possible one-sided p is 1/70 = 0.014, with 3 it is 1/20 = 0.05, with 2 it
is 1/6, which can never be significant. Hence `MIN_REPEATS`: below it the test can say
nothing, and compare does not judge the figure.

Standard library only, and cheap: the exact distribution is a small dynamic programme,
computed once per (n, m) pair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

# With fewer good repeats on either side, no rank test can reach ALPHA.
MIN_REPEATS = 3
ALPHA = 0.05
# Above this many repeats per side the normal approximation (with tie correction) is used.
_EXACT_LIMIT = 60


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda index: values[index])
    result = [0.0] * len(values)
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and values[order[end + 1]] == values[order[position]]:
            end += 1
        shared = (position + end) / 2 + 1
        for index in order[position : end + 1]:
            result[index] = shared
        position = end + 1
    return result


def u_statistic(lower: Sequence[float], higher: Sequence[float]) -> float:
    """Mann-Whitney U of `lower`: how many (lower, higher) pairs have lower < higher
    (ties count one half). Large when `lower` is systematically below `higher`."""
    combined = list(lower) + list(higher)
    rank = ranks(combined)
    rank_sum_higher = sum(rank[len(lower) :])
    n_higher = len(higher)
    return rank_sum_higher - n_higher * (n_higher + 1) / 2


@lru_cache(maxsize=256)
def _u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n+m, n) arrangements give each U in 0..n*m (no ties)."""
    # counts[i][j][u]: arrangements of i and j items with statistic u; built row by row.
    previous: list[list[int]] = [[1] for _ in range(m + 1)]  # i = 0: U is 0 for every j
    for i in range(1, n + 1):
        current: list[list[int]] = [[1]]  # j = 0: U is 0
        for j in range(1, m + 1):
            # The largest item is either one of the i (adds j to U) or one of the j (adds 0).
            with_i = previous[j]
            with_j = current[j - 1]
            size = i * j + 1
            row = [0] * size
            for u, count in enumerate(with_j):
                row[u] += count
            for u, count in enumerate(with_i):
                row[u + j] += count
            current.append(row)
        previous = current
    return tuple(previous[m])


def p_value_lower(sample: Sequence[float], reference: Sequence[float]) -> float:
    """One-sided p that `sample` is not systematically lower than `reference`.

    Small p: the sample's values rank below the reference's more often than chance allows.
    """
    n, m = len(sample), len(reference)
    if n == 0 or m == 0:
        return 1.0
    u = u_statistic(sample, reference)
    if n <= _EXACT_LIMIT and m <= _EXACT_LIMIT:
        counts = _u_counts(n, m)
        total = math.comb(n + m, n)
        # P(U >= u); a tie-induced half value is rounded towards the conservative side.
        threshold = math.ceil(u - 1e-9)
        return sum(counts[threshold:]) / total
    mean = n * m / 2
    combined = list(sample) + list(reference)
    tie_term = sum(t**3 - t for t in _tie_sizes(combined))
    variance = n * m / 12 * ((n + m + 1) - tie_term / ((n + m) * (n + m - 1)))
    if variance <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _tie_sizes(values: Sequence[float]) -> list[int]:
    seen: dict[float, int] = {}
    for value in values:
        seen[value] = seen.get(value, 0) + 1
    return [count for count in seen.values() if count > 1]
