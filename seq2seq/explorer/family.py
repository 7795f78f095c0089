"""The attention family side by side (the app's Family tab): one Luong model per attention score,
trained alike (``python train.py --family``, checkpoints under ``checkpoints/family/NAME``), so
that only the attention differs. Each member's formula and source, and one sentence through all
of them, every map on the same 0-1 scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..analysis.stats import summary
from ..models.luong import FAMILY
from ..results import faithfulness_value
from .service import ModelSet, Result, checked_text, result_map, translate_all


@dataclass(frozen=True)
class Member:
    title: str
    formula: str          # LaTeX, for $...$ in gr.Markdown
    source: str


MEMBERS: dict[str, Member] = {
    "dot": Member("dot product", r"s_t^\top h_i", "Luong et al. 2015"),
    "general": Member("general", r"s_t^\top W_a h_i", "Luong et al. 2015"),
    "concat": Member("concat (additive)", r"v_a^\top \tanh(W_q s_t + W_k h_i)", "Bahdanau et al. 2015; Luong et al. 2015"),
    "scaled_dot": Member("scaled dot product", r"s_t^\top h_i / \sqrt{n}", "Vaswani et al. 2017"),
    "scaled_dot_ln": Member("scaled dot product, normalised states", r"\mathrm{LN}(s_t)^\top \mathrm{LN}(h_i) / \sqrt{n}",
                            "Vaswani et al. 2017's scaling on states brought to mean 0, variance 1 (its premise)"),
    "cosine": Member("content-based (cosine)", r"\beta \cos(s_t, h_i)", "Graves et al. 2014"),
    "location": Member("location-based", r"a_t = \mathrm{softmax}(W_a s_t)\text{, no } h_i", "Luong et al. 2015"),
    "local_p": Member("local-p", r"s_t^\top W_a h_i \text{ in } [p_t - D, p_t + D] \times e^{-(i - p_t)^2 / 2(D/2)^2},\ "
                      r"p_t = (S-1)\,\sigma(v_p^\top \tanh(W_p s_t))", "Luong et al. 2015"),
    "ntm": Member("Neural Turing Machine addressing", r"\beta_t \cos(k_t, h_i) \to \text{interpolate with } w_{t-1}"
                  r" \text{ (gate } g_t) \to \text{shift } \{-1, 0, 1\} \to \text{sharpen } \gamma_t \ge 1",
                  "Graves et al. 2014"),
    "hard": Member("hard (one position)", r"z_t = \arg\max_i s_t^\top W_a h_i,\ c_t = h_{z_t}",
                   "Xu et al. 2015; trained with the straight-through Gumbel-softmax (Jang et al. 2017)"),
}
assert set(MEMBERS) == set(FAMILY), "every family preset needs its formula here"


def member_header(name: str, metrics: dict) -> str:
    """Markdown (with $LaTeX$) above a member's map: its name, test BLEU (beam 5), formula and source, and how
    far its maps can be trusted where measured (AER and comprehensiveness, ``analysis/faithfulness.py``)."""
    bleu = (metrics.get("test") or {}).get("beam5", {}).get("bleu")
    member = MEMBERS.get(name)
    head = f"**{member.title if member else name}**" + (f" · BLEU {bleu:.1f}" if bleu is not None else "")
    trust = [f"{label} {v:.2f}" for label, v in (("AER", faithfulness_value(metrics, "cross", "aer")),
                                                  ("comprehensiveness", faithfulness_value(metrics, "cross",
                                                                                           "comprehensiveness")))
             if v is not None]
    if trust:
        head += f" · {' · '.join(trust)}"
    return f"{head}<br>${member.formula}$<br><small>{member.source}</small>" if member else head


@dataclass
class MemberMap:
    """One member's translation of the sentence and its map (cross-attention, [T, S]) with statistics."""

    name: str
    result: Result
    weights: torch.Tensor
    statistics: dict


def ordered(models: ModelSet) -> list[str]:
    """The members in ``models`` in the order of FAMILY (others after them)."""
    return [n for n in FAMILY if n in models.translators] + [n for n in models if n not in FAMILY]


def family_maps(models: ModelSet, text: str) -> tuple[list[MemberMap], str | None, list[str]]:
    """Translate ``text`` (greedy) with every member in ``models``, in the order of FAMILY."""
    text = checked_text(text)
    results, reference, messages = translate_all(models, text, ordered(models))
    maps = []
    for name, r in results.items():
        _, weights = result_map(models, r)
        stats = None if r.notice else summary(weights, r.translation.src_tokens)   # notice: no translation, no map
        maps.append(MemberMap(name, r, weights, stats))
    return maps, reference, messages
