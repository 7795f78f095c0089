"""Statistics of one map: a [T, S] matrix whose row t says where the model looked (attention)
or what mattered (saliency) while it wrote output word t, over the S source words.

Every statistic first normalises each row to sum to 1 (:func:`normalise_rows`; a row of zeros
counts as uniform: no preference for any word). Then, with rows t = 0..T-1 and columns
j = 0..S-1:

    entropy         per row, in bits (not normalised): -sum_j a_tj log2 a_tj. 0 when all the
                    weight is on one word, log2(S) when it is spread evenly.
    entropy_norm    the mean row entropy divided by log2(S), so 0..1 whatever the length (0 when S = 1).
    diagonality     1 - the weight-averaged distance of the cells from the diagonal,
                    1 - sum_tj a_tj |x_j - y_t| / T, with relative positions at the cell centres
                    x_j = (j + 1/2) / S and y_t = (t + 1/2) / T. 1 for the identity (word for word,
                    in order); uniform attention on a square map scores about 2/3.
    monotonicity    the share of consecutive rows whose most-attended word stays or moves right
                    (argmax_{t+1} >= argmax_t); rows with no single maximum (uniform) are skipped,
                    and with no pair left it is 1.
    coverage        per source word, the total weight it received over all rows (sums to T).
    punctuation     the share of all weight on punctuation columns ("." "," "!" ...).
    eos             the share on <eos> columns; None when the map has no such column
                    (the sources here carry no <eos>, so cross-attention and saliency maps have none).
    sos             the share on <sos> columns (decoder self-attention's first key, the start
                    symbol); None when the map has none.

``difference`` and ``similarity`` compare two maps of the same sentence with the same output:
similarity = 1 - the mean over rows of the total-variation distance between them
(1/2 sum_j |a_tj - b_tj|), so 1 for identical maps and 0 for maps that share no weight.
"""

from __future__ import annotations

import math
import unicodedata

import torch



def normalise_rows(w: torch.Tensor) -> torch.Tensor:
    """[T, S] with each row summing to 1; a row of zeros (or negatives) becomes uniform."""
    w = w.float().clamp_min(0)
    total = w.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(w, 1.0 / max(w.size(-1), 1))
    return torch.where(total > 0, w / total.clamp_min(1e-30), uniform)


def entropy(w: torch.Tensor) -> torch.Tensor:
    """[T] entropy of each row in bits."""
    p = normalise_rows(w)
    return (-p * torch.log2(p.clamp_min(1e-30))).sum(dim=-1).clamp_min(0)


def entropy_norm(w: torch.Tensor) -> float:
    """Mean row entropy over its maximum log2(S): 0 (peaked) .. 1 (uniform)."""
    T, S = w.shape
    return 0.0 if T == 0 or S < 2 else min(1.0, entropy(w).mean().item() / math.log2(S))


def diagonality(w: torch.Tensor) -> float:
    """1 - weight-averaged |x_j - y_t| over cells, positions at cell centres in (0, 1)."""
    T, S = w.shape
    x = (torch.arange(S) + 0.5) / S                      # [S]
    y = (torch.arange(T) + 0.5) / T                      # [T]
    distance = (x[None, :] - y[:, None]).abs()           # [T, S]
    return 1.0 - (normalise_rows(w) * distance).sum().item() / T


def monotonicity(w: torch.Tensor) -> float:
    """Share of consecutive rows (with a single most-attended word) whose argmax does not move left."""
    p = normalise_rows(w)
    peaked = (p.max(dim=-1).values > p.min(dim=-1).values).tolist()   # a row with a maximum
    best = p.argmax(dim=-1).tolist()
    pairs = [best[t + 1] >= best[t] for t in range(len(best) - 1) if peaked[t] and peaked[t + 1]]
    return sum(pairs) / len(pairs) if pairs else 1.0


def coverage(w: torch.Tensor) -> torch.Tensor:
    """[S] total weight each source word received over all rows."""
    return normalise_rows(w).sum(dim=0)


def is_punctuation(token: str) -> bool:
    return bool(token) and all(unicodedata.category(c).startswith("P") for c in token)


def column_share(w: torch.Tensor, chosen: list[bool]) -> float:
    """Share of all weight that falls on the chosen columns."""
    T = w.size(0)
    if T == 0 or not any(chosen):
        return 0.0
    return normalise_rows(w)[:, torch.tensor(chosen)].sum().item() / T


def summary(w: torch.Tensor, columns: list[str]) -> dict:
    """Every statistic of a [T, S] map whose columns are labelled by ``columns``."""
    w = w.float().cpu()
    T, S = w.shape
    if T == 0 or S == 0:  # nothing to measure
        return {"entropy": [0.0] * T, "mean_entropy": 0.0, "entropy_norm": 0.0, "diagonality": None,
                "monotonicity": None, "coverage": [0.0] * S, "punctuation": 0.0, "eos": None, "sos": None}
    eos, sos = [c == "<eos>" for c in columns], [c == "<sos>" for c in columns]
    h = entropy(w)
    return {
        "entropy": h.tolist(),                                 # [T] bits
        "mean_entropy": h.mean().item(),                       # bits
        "entropy_norm": entropy_norm(w),                       # 0..1
        "diagonality": diagonality(w),
        "monotonicity": monotonicity(w),
        "coverage": coverage(w).tolist(),                      # [S], sums to T
        "punctuation": column_share(w, [is_punctuation(c) for c in columns]),
        "eos": column_share(w, eos) if any(eos) else None,
        "sos": column_share(w, sos) if any(sos) else None,
    }


def difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[T, S] a - b, rows normalised first, so each cell is in [-1, 1]."""
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be compared")
    return normalise_rows(a) - normalise_rows(b)


def similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 - mean total-variation distance between corresponding rows: 1 identical, 0 disjoint."""
    d = difference(a, b)
    return 1.0 if d.size(0) == 0 else 1.0 - 0.5 * d.abs().sum(dim=-1).mean().item()
