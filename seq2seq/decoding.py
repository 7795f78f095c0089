"""Greedy search, beam search and forced decoding over the one model interface.

All three are batched over sentences (and beams), encode each source once, and advance
the model one step at a time from its cached state. A sentence (or a beam search over
one sentence) that is finished leaves the batch at once, so the rest run on a smaller batch.

Each returns, per sentence, a :class:`Hypothesis`: output ids (ending in ``<eos>`` when
finished), total log-probability, and per-step attention for every kind the model has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .data import EOS_IDX, PAD_IDX, SOS_IDX, pad
from .model import Seq2Seq, index_batch


@dataclass
class Hypothesis:
    tokens: list[int]                 # output ids, without <sos>, ending with <eos> if finished
    log_prob: float                   # sum of the log-probabilities of ``tokens``
    score: float = 0.0                # log_prob / len(tokens) ** length_penalty (what beam search ranks)
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    # "cross": [T, layers, heads, S]; "decoder_self": [T, layers, heads, T]; "encoder_self": [layers, heads, S, S]
    step_log_probs: list[float] = field(default_factory=list)  # log-probability of each output token
    nbest: list["Hypothesis"] = field(default_factory=list)    # beam search: all finished, best first


def length_normalised(log_prob: float, length: int, length_penalty: float) -> float:
    return log_prob / max(length, 1) ** length_penalty


def default_max_len(src_len: int, model: Seq2Seq, max_len: int | None) -> int:
    """Outputs may be up to ``max_len`` tokens, by default 1.5 x the source + 10, within the model's positions."""
    n = max_len if max_len is not None else int(1.5 * src_len) + 10
    if model.max_target_positions is not None:
        n = min(n, model.max_target_positions)
    return max(n, 1)


def _log_probs(logits: torch.Tensor) -> torch.Tensor:
    """[B, V] log-probabilities of the next word; <pad> and <sos> are never outputs."""
    logits = logits.float()
    logits[:, PAD_IDX] = float("-inf")
    logits[:, SOS_IDX] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def _encode(model: Seq2Seq, src_ids: list[list[int]], device):
    src = pad(src_ids).to(device)
    lens = torch.tensor([len(s) for s in src_ids], device=device)
    return model.encode(src, lens)


def _stack_steps(steps: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-step attention dicts (each [layers, heads, n] with n growing for decoder_self) -> [T, ...]."""
    if not steps or not steps[0]:
        return {}
    out = {"cross": torch.stack([s["cross"] for s in steps])}
    if "decoder_self" in steps[0]:
        t = len(steps)
        full = steps[0]["decoder_self"].new_zeros(t, *steps[0]["decoder_self"].shape[:-1], t)
        for i, s in enumerate(steps):  # row i attends to the i+1 inputs <sos> y_1 .. y_i
            full[i, ..., : s["decoder_self"].size(-1)] = s["decoder_self"]
        out["decoder_self"] = full
    return out


def _encoder_attention(enc: dict, row: int, src_len: int) -> dict[str, torch.Tensor]:
    if "encoder_self" not in enc:
        return {}
    return {"encoder_self": enc["encoder_self"][row, :, :, :src_len, :src_len].float().cpu()}


@torch.no_grad()
def greedy_search(model: Seq2Seq, src_ids: list[list[int]], max_len: int | None = None,
                  prefix: list[list[int]] | None = None) -> list[Hypothesis]:
    """Pick the most probable word at every step, for a batch of sources (lists of ids).
    ``prefix``: per sentence, output ids to force at the first steps (what-if decoding)."""
    model.eval()
    device = next(model.parameters()).device
    enc = _encode(model, src_ids, device)
    enc_attn = [_encoder_attention(enc, i, len(s)) for i, s in enumerate(src_ids)]
    prefix = prefix or [[] for _ in src_ids]
    limits = [default_max_len(len(s), model, max_len) + len(p) * (max_len is None) for s, p in zip(src_ids, prefix)]
    state = model.init_state(enc)
    n = len(src_ids)
    active = torch.arange(n, device=device)             # original index of each batch row
    prev = torch.full((n,), SOS_IDX, dtype=torch.long, device=device)
    tokens = [[] for _ in range(n)]
    step_lp = [[] for _ in range(n)]
    attn_steps = [[] for _ in range(n)]
    for t in range(max(limits)):
        logits, state, attn = model.step(prev, state, enc)
        log_probs = _log_probs(logits)
        best_lp, best = log_probs.max(dim=-1)
        keep = []
        for row, (i, tok, lp) in enumerate(zip(active.tolist(), best.tolist(), best_lp.tolist())):
            if t < len(prefix[i]):  # forced word
                tok = prefix[i][t]
                best[row], lp = tok, log_probs[row, tok].item()
            src_len = len(src_ids[i])
            tokens[i].append(tok)
            step_lp[i].append(lp)
            attn_steps[i].append({k: v[row, ..., : (src_len if k == "cross" else t + 1)].float().cpu()
                                  for k, v in attn.items()})
            if tok != EOS_IDX and t + 1 < limits[i]:
                keep.append(row)
        if not keep:
            break
        if len(keep) < len(active):  # finished sentences leave the batch
            rows = torch.tensor(keep, device=device)
            active, best, state, enc = active[rows], best[rows], index_batch(state, rows), index_batch(enc, rows)
        prev = best
    return [Hypothesis(tokens[i], sum(step_lp[i]), length_normalised(sum(step_lp[i]), len(tokens[i]), 1.0),
                       {**_stack_steps(attn_steps[i]), **enc_attn[i]}, step_lp[i])
            for i in range(n)]


@torch.no_grad()
def beam_search(model: Seq2Seq, src_ids: list[list[int]], beam_size: int = 5, length_penalty: float = 1.0,
                max_len: int | None = None, nbest: int | None = None) -> list[Hypothesis]:
    """Keep the ``beam_size`` best prefixes per sentence; a hypothesis ends at ``<eos>``.

    Finished hypotheses are ranked by log_prob / length ** length_penalty. A sentence is done
    once it has ``beam_size`` finished hypotheses (or reaches its length limit). The attention
    of the returned hypotheses is recovered by :func:`forced_decode`, so the search itself
    carries only ids and scores.
    """
    if beam_size < 1:
        raise ValueError("beam_size must be at least 1")
    model.eval()
    device = next(model.parameters()).device
    k = beam_size
    n = len(src_ids)
    enc = _encode(model, src_ids, device)
    enc = index_batch(enc, torch.arange(n, device=device).repeat_interleave(k))  # [n*k, ...]
    state = model.init_state(enc)
    limits = [default_max_len(len(s), model, max_len) for s in src_ids]

    active = list(range(n))                                      # original index of each active sentence
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0                                           # start from one live beam
    history = torch.full((n * k, 0), SOS_IDX, dtype=torch.long, device=device)
    prev = torch.full((n * k,), SOS_IDX, dtype=torch.long, device=device)
    finished: list[list[tuple[float, float, list[int]]]] = [[] for _ in range(n)]

    for t in range(max(limits)):
        logits, state, _ = model.step(prev, state, enc)
        log_probs = _log_probs(logits)                              # [m*k, V]
        vocab = log_probs.size(-1)
        m = len(active)
        candidates = (scores.view(m * k, 1) + log_probs).view(m, k * vocab)
        top_scores, top_ids = candidates.topk(2 * k, dim=-1)      # [m, 2k]
        top_beams, top_tokens = top_ids // vocab, top_ids % vocab
        is_eos = top_tokens == EOS_IDX

        # Hypotheses ending here: <eos> among a sentence's k best candidates.
        eos_rows = (is_eos[:, :k] & (top_scores[:, :k] > float("-inf"))).nonzero().tolist()
        for r, j in eos_rows:
            i = active[r]
            if len(finished[i]) < k:
                prefix = history[r * k + top_beams[r, j]].tolist()
                lp = top_scores[r, j].item()
                finished[i].append((length_normalised(lp, t + 1, length_penalty), lp, prefix + [EOS_IDX]))

        # The k best continuations that are not <eos> stay in the beam.
        cont_scores, cont = top_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=-1)  # [m, k]
        beams = top_beams.gather(1, cont)
        tokens = top_tokens.gather(1, cont)

        keep = []
        for r, i in enumerate(active):
            if t + 1 >= limits[i]:  # out of length: the live beams end here, unfinished
                for j in range(k):
                    lp = cont_scores[r, j].item()
                    if lp > float("-inf") and len(finished[i]) < k:
                        prefix = history[r * k + beams[r, j]].tolist() + [tokens[r, j].item()]
                        finished[i].append((length_normalised(lp, t + 1, length_penalty), lp, prefix))
            elif len(finished[i]) < k:
                keep.append(r)
        if not keep:
            break
        rows = torch.tensor(keep, device=device)
        flat = (rows[:, None] * k + beams[rows]).view(-1)       # the beams each kept sentence continues
        state, history = index_batch(state, flat), torch.cat([history[flat], tokens[rows].view(-1, 1)], dim=1)
        if len(keep) < m:
            enc = index_batch(enc, (rows[:, None] * k + torch.arange(k, device=device)).view(-1))
        scores, prev = cont_scores[rows], tokens[rows].view(-1)
        active = [active[r] for r in keep]

    results = []
    for i in range(n):
        ranked = sorted(finished[i], key=lambda h: -h[0])[: nbest or k]
        results.append([Hypothesis(toks, lp, score) for score, lp, toks in ranked])
    best = forced_decode(model, src_ids, [r[0].tokens for r in results])
    for hyp, ranked in zip(best, results):
        hyp.score, hyp.nbest = ranked[0].score, ranked
    return best


@torch.no_grad()
def forced_decode(model: Seq2Seq, src_ids: list[list[int]], trg_ids: list[list[int]]) -> list[Hypothesis]:
    """Run the decoder along given outputs (teacher forcing, one step at a time), returning
    each token's log-probability and the attention the model had while producing it."""
    model.eval()
    device = next(model.parameters()).device
    enc = _encode(model, src_ids, device)
    state = model.init_state(enc)
    n, steps = len(src_ids), max((len(t) for t in trg_ids), default=0)
    forced = pad([[SOS_IDX] + list(t) for t in trg_ids]).to(device)  # [n, steps+1]
    step_lp = [[] for _ in range(n)]
    attn_steps = [[] for _ in range(n)]
    for t in range(steps):
        logits, state, attn = model.step(forced[:, t], state, enc)
        log_probs = _log_probs(logits).gather(1, forced[:, t + 1, None])[:, 0].tolist()
        for i in range(n):
            if t < len(trg_ids[i]):
                step_lp[i].append(log_probs[i])
                attn_steps[i].append({k: v[i, ..., : (len(src_ids[i]) if k == "cross" else t + 1)].float().cpu()
                                      for k, v in attn.items()})
    return [Hypothesis(list(trg_ids[i]), sum(step_lp[i]), length_normalised(sum(step_lp[i]), len(trg_ids[i]), 1.0),
                       {**_stack_steps(attn_steps[i]), **_encoder_attention(enc, i, len(src_ids[i]))}, step_lp[i])
            for i in range(n)]
