"""Confidence intervals: seeded percentile bootstrap, Wilson score and Clopper-Pearson (exact).

Success is a per-episode Bernoulli outcome and SPL a per-episode number in [0, 1]; both are
summarised by their mean over episodes with a bootstrap 95% interval. The binomial intervals are
the closed-form check of the bootstrap for success rates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st


def bootstrap_ci(values: np.ndarray, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (E,).

    Deterministic for a given ``seed``; an empty input gives ``(nan, nan)`` and a constant input
    a zero-width interval.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    # Resampling counts (multinomial) instead of indices keeps memory at n_boot x E floats at most.
    means = np.empty(n_boot)
    chunk = max(1, int(2_000_000 // max(v.size, 1)))
    for s in range(0, n_boot, chunk):
        b = min(chunk, n_boot - s)
        idx = rng.integers(0, v.size, size=(b, v.size))
        means[s:s + b] = v[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return (float(lo), float(hi))


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(_st.norm.ppf(1.0 - (1.0 - level) / 2.0))
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial interval for ``k`` successes in ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(_st.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_st.beta.ppf(1 - a / 2, k + 1, n - k))
    return (lo, hi)


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) — used over training seeds."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return (math.nan, math.nan)
    return (float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0)


def correlation_ci(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Pearson correlation of ``x`` and ``y`` (n,) with a Fisher-z interval.

    Returns ``(r, lo, hi, p_value)``; fewer than 4 points or a constant input give NaNs.
    """
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    n = x.size
    if n < 4 or np.std(x) == 0 or np.std(y) == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    r, p = _st.pearsonr(x, y)
    r = float(np.clip(r, -0.999999, 0.999999))
    z = math.atanh(r)
    se = 1.0 / math.sqrt(n - 3)
    q = float(_st.norm.ppf(1.0 - (1.0 - level) / 2.0))
    return (r, math.tanh(z - q * se), math.tanh(z + q * se), float(p))
