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
import torch.nn.functional as F

from .data import EOS_IDX, PAD_IDX, SOS_IDX, pad
from .models.base import Seq2Seq, index_batch


@dataclass
class Hypothesis:
    tokens: list[int]                 # output ids, without <sos>, ending with <eos> if finished
    log_prob: float                   # sum of the log-probabilities of ``tokens``
    score: float = 0.0                # log_prob / len(tokens) ** length_penalty (what beam search ranks)
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    # "cross": [T, layers, heads, S]; "decoder_self": [T, layers, heads, T]; "encoder_self": [layers, heads, S, S];
    # "value_norms": [layers, heads, S], ||f(x_j)|| of what each source word moves (``Seq2Seq.value_norms``)
    step_log_probs: list[float] = field(default_factory=list)  # log-probability of each output token
    nbest: list["Hypothesis"] = field(default_factory=list)    # beam search: all finished, best first
    top_k: list[tuple[list[int], list[float]]] = field(default_factory=list)  # forced_decode(top_k=k): per step
    trace: "BeamTrace | None" = None                           # beam_search(trace=True): the search tree


@dataclass
class BeamNode:
    """One word a beam search kept (or ended a hypothesis with) at one step."""

    step: int                         # 0-based output position of ``token``
    token: int
    parent: int                       # index of the node it extends in BeamTrace.nodes; -1: the start
    log_prob: float                   # of the whole prefix up to and including ``token``
    word_log_prob: float              # of ``token`` alone
    finished: bool = False            # ends a hypothesis (<eos>, or the length limit)
    score: float | None = None        # finished: log_prob / length ** length_penalty


@dataclass
class BeamTrace:
    """A beam search's tree for one sentence: every step's kept hypotheses and those that ended."""

    nodes: list[BeamNode] = field(default_factory=list)
    winner: int = -1                  # the returned hypothesis's last node
    nbest: list[int] = field(default_factory=list)  # last node of each returned n-best hypothesis

    def path(self, node: int) -> list[int]:
        """Node indices from the first word to ``node``."""
        out = []
        while node >= 0:
            out.append(node)
            node = self.nodes[node].parent
        return out[::-1]


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


def _encode(model: Seq2Seq, src_ids: list[list[int]], device, encoder_layer: int | None = None):
    """The model's ``enc`` (``encoder_layer``: the output of that encoder layer, 1-based, instead of the last:
    ``encode_from_layer``, DecoderLens), with its ``value_norms`` [B, layers, heads, S] when it gives them."""
    src = pad(src_ids).to(device)
    lens = torch.tensor([len(s) for s in src_ids], device=device)
    enc = model.encode(src, lens) if encoder_layer is None else model.encode_from_layer(src, lens, encoder_layer)
    norms = model.value_norms(enc)
    return enc if norms is None else {**enc, "value_norms": norms}


def _attention_along(steps: list[dict[str, torch.Tensor]], paths: list[list[int]], src_ids) -> list[dict]:
    """Each output's attention, gathered after decoding rather than copied at every step.

    ``steps[t]`` is the model's attention at step t for that step's whole batch ([rows, layers,
    heads, n], n growing for decoder_self); ``paths[i]`` lists, for output i, its row in the
    steps concatenated (``t``'s rows after all earlier steps'). Returns per output
    "cross" [T, layers, heads, S] and "decoder_self" [T, layers, heads, T] (zero above the diagonal).
    """
    if not steps or not steps[0]:
        return [{} for _ in paths]
    out = [{} for _ in paths]
    for kind in steps[0]:
        width = max(s[kind].size(-1) for s in steps)
        flat = torch.cat([F.pad(s[kind], (0, width - s[kind].size(-1))) for s in steps]).float().cpu()
        for i, path in enumerate(paths):
            n = len(path) if kind == "decoder_self" else len(src_ids[i])
            out[i][kind] = flat[torch.tensor(path, dtype=torch.long), ..., :n].contiguous()
    return out


def _encoder_attention(enc: dict, src_ids) -> tuple[list[dict[str, torch.Tensor]], dict]:
    """Per sentence what the encoder gives once for the whole output: its self-attention [layers, heads, S, S]
    (Transformer) and its value norms [layers, heads, S]; and ``enc`` without them: decoding never reads them,
    so they need not be copied when the batch changes."""
    per_sentence = [{} for _ in src_ids]
    for key in ("encoder_self", "value_norms"):
        if key in enc:
            value = enc[key].float().cpu()
            for i, s in enumerate(src_ids):
                per_sentence[i][key] = value[i, :, :, : len(s), : len(s)] if key == "encoder_self" else value[i, ..., : len(s)]
    return per_sentence, {k: v for k, v in enc.items() if k not in ("encoder_self", "value_norms")}


@torch.no_grad()
def greedy_search(model: Seq2Seq, src_ids: list[list[int]], max_len: int | None = None,
                  prefix: list[list[int]] | None = None, encoder_layer: int | None = None) -> list[Hypothesis]:
    """Pick the most probable word at every step, for a batch of sources (lists of ids).
    ``prefix``: per sentence, output ids to force at the first steps (what-if decoding). ``encoder_layer``: the
    decoder reads that encoder layer's output instead of the last (DecoderLens; ``encode_from_layer``)."""
    model.eval()
    device = next(model.parameters()).device
    enc_attn, enc = _encoder_attention(_encode(model, src_ids, device, encoder_layer), src_ids)
    prefix = prefix or [[] for _ in src_ids]
    most = model.max_target_positions or float("inf")   # a long prefix must not run past the model's positions
    limits = [min(default_max_len(len(s), model, max_len) + len(p) * (max_len is None), most)
              for s, p in zip(src_ids, prefix)]
    state = model.init_state(enc)
    n = len(src_ids)
    active = list(range(n))                             # original index of each batch row
    prev = torch.full((n,), SOS_IDX, dtype=torch.long, device=device)
    tokens = [[] for _ in range(n)]
    step_lp = [[] for _ in range(n)]
    paths = [[] for _ in range(n)]                      # each sentence's rows in the steps' attention
    attn_steps, offset = [], 0
    for t in range(max(limits)):
        logits, state, attn = model.step(prev, state, enc)
        attn_steps.append(attn)
        log_probs = _log_probs(logits)
        best_lp, best = log_probs.max(dim=-1)
        keep = []
        for row, (i, tok, lp) in enumerate(zip(active, best.tolist(), best_lp.tolist())):
            if t < len(prefix[i]):  # forced word
                tok = prefix[i][t]
                best[row], lp = tok, log_probs[row, tok].item()
            tokens[i].append(tok)
            step_lp[i].append(lp)
            paths[i].append(offset + row)
            if tok != EOS_IDX and t + 1 < limits[i]:
                keep.append(row)
        offset += len(active)
        if not keep:
            break
        if len(keep) < len(active):  # finished sentences leave the batch
            rows = torch.tensor(keep, device=device)
            active = [active[r] for r in keep]
            best, state, enc = best[rows], index_batch(state, rows), index_batch(enc, rows)
        prev = best
    attention = _attention_along(attn_steps, paths, src_ids)
    return [Hypothesis(tokens[i], sum(step_lp[i]), length_normalised(sum(step_lp[i]), len(tokens[i]), 1.0),
                       {**attention[i], **enc_attn[i]}, step_lp[i])
            for i in range(n)]


@torch.no_grad()
def beam_search(model: Seq2Seq, src_ids: list[list[int]], beam_size: int = 5, length_penalty: float = 1.0,
                max_len: int | None = None, nbest: int | None = None, trace: bool = False) -> list[Hypothesis]:
    """Keep the ``beam_size`` best prefixes per sentence; a hypothesis ends at ``<eos>``.

    Finished hypotheses are ranked by log_prob / length ** length_penalty. A sentence is done
    once it has ``beam_size`` finished hypotheses (or reaches its length limit). Each live beam
    carries its words, their log-probabilities and its rows in the steps' attention, so the
    best hypothesis's attention is gathered at the end without decoding it again.

    ``trace``: also record each sentence's search tree in ``Hypothesis.trace`` (a :class:`BeamTrace`:
    every word kept at every step, and every hypothesis that ended, each with its parent).
    """
    if beam_size < 1:
        raise ValueError("beam_size must be at least 1")
    model.eval()
    device = next(model.parameters()).device
    k = beam_size
    n = len(src_ids)
    enc_attn, enc = _encoder_attention(_encode(model, src_ids, device), src_ids)
    enc = index_batch(enc, torch.arange(n, device=device).repeat_interleave(k))  # [n*k, ...]
    state = model.init_state(enc)
    limits = [default_max_len(len(s), model, max_len) for s in src_ids]

    active = list(range(n))                                      # original index of each active sentence
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0                                           # start from one live beam
    history = torch.full((n * k, 0), SOS_IDX, dtype=torch.long, device=device)  # each beam's words,
    history_lp = torch.zeros((n * k, 0), device=device)                        # their log-probabilities,
    paths = torch.zeros((n * k, 0), dtype=torch.long, device=device)           # its rows in attn_steps
    prev = torch.full((n * k,), SOS_IDX, dtype=torch.long, device=device)
    finished: list[list[tuple]] = [[] for _ in range(n)]  # (score, log_prob, words, word log-probs, path, node)
    attn_steps, offset = [], 0
    trees = [BeamTrace() for _ in range(n)] if trace else None
    row_node = [-1] * (n * k)                                    # trace: the node each live beam ends in

    def node(i, t, row, word, lp, word_lp, score=None) -> int | None:
        """Trace sentence i's beam in ``row`` growing by ``word`` at step t; the new node's index."""
        if trees is None:
            return None
        trees[i].nodes.append(BeamNode(t, word, row_node[row], lp, word_lp, score is not None, score))
        return len(trees[i].nodes) - 1

    def finish(i, t, row, lp, word, word_lp):
        score = length_normalised(lp, t + 1, length_penalty)
        finished[i].append((score, lp, history[row].tolist() + [word], history_lp[row].tolist() + [word_lp],
                            paths[row].tolist() + [offset + row], node(i, t, row, word, lp, word_lp, score)))

    for t in range(max(limits)):
        logits, state, attn = model.step(prev, state, enc)
        attn_steps.append(attn)
        log_probs = _log_probs(logits)                              # [m*k, V]
        vocab = log_probs.size(-1)
        m = len(active)
        candidates = (scores.view(m * k, 1) + log_probs).view(m, k * vocab)
        top_scores, top_ids = candidates.topk(2 * k, dim=-1)      # [m, 2k]
        top_lps = log_probs.view(m, k * vocab).gather(1, top_ids)  # the words' own log-probabilities
        top_rows = top_ids // vocab + torch.arange(0, m * k, k, device=device)[:, None]  # the beams they extend
        top_tokens = top_ids % vocab
        is_eos = top_tokens == EOS_IDX

        # Hypotheses ending here: <eos> among a sentence's k best candidates.
        eos_rows = (is_eos[:, :k] & (top_scores[:, :k] > float("-inf"))).nonzero().tolist()
        for r, j in eos_rows:
            if len(finished[active[r]]) < k:
                finish(active[r], t, top_rows[r, j].item(), top_scores[r, j].item(), EOS_IDX, top_lps[r, j].item())

        # The k best continuations that are not <eos> stay in the beam.
        cont_scores, cont = top_scores.masked_fill(is_eos, float("-inf")).topk(k, dim=-1)  # [m, k]
        rows, tokens, lps = top_rows.gather(1, cont), top_tokens.gather(1, cont), top_lps.gather(1, cont)

        keep = []
        for r, i in enumerate(active):
            if t + 1 >= limits[i]:  # out of length: the live beams end here, unfinished
                for j in range(k):
                    lp = cont_scores[r, j].item()
                    if lp > float("-inf") and len(finished[i]) < k:
                        finish(i, t, rows[r, j].item(), lp, tokens[r, j].item(), lps[r, j].item())
            elif len(finished[i]) < k:
                keep.append(r)
        if not keep:
            break
        kept = torch.tensor(keep, device=device)
        flat = rows[kept].view(-1)                                  # the beams each kept sentence continues
        if trees is not None:
            grown = zip([active[r] for r in keep for _ in range(k)], flat.tolist(), tokens[kept].view(-1).tolist(),
                        cont_scores[kept].view(-1).tolist(), lps[kept].view(-1).tolist())
            row_node = [node(i, t, row, word, lp, word_lp) if lp > float("-inf") else -1
                        for i, row, word, lp, word_lp in grown]
        state = index_batch(state, flat)
        history = torch.cat([history[flat], tokens[kept].view(-1, 1)], dim=1)
        history_lp = torch.cat([history_lp[flat], lps[kept].view(-1, 1)], dim=1)
        paths = torch.cat([paths[flat], (offset + flat).view(-1, 1)], dim=1)
        offset += m * k
        if len(keep) < m:
            enc = index_batch(enc, (kept[:, None] * k + torch.arange(k, device=device)).view(-1))
        scores, prev = cont_scores[kept], tokens[kept].view(-1)
        active = [active[r] for r in keep]

    ranked = [sorted(finished[i], key=lambda h: -h[0])[: nbest or k] for i in range(n)]
    attention = _attention_along(attn_steps, [r[0][4] for r in ranked], src_ids)
    results = []
    for i, r in enumerate(ranked):
        score, _, words, word_lps, _, _ = r[0]
        results.append(Hypothesis(words, sum(word_lps), score, {**attention[i], **enc_attn[i]}, word_lps,
                                  [Hypothesis(w, lp, s) for s, lp, w, _, _, _ in r]))
        if trees is not None:
            trees[i].winner, trees[i].nbest = r[0][5], [h[5] for h in r]
            results[i].trace = trees[i]
    return results


@torch.no_grad()
def forced_decode(model: Seq2Seq, src_ids: list[list[int]], trg_ids: list[list[int]],
                  top_k: int = 0) -> list[Hypothesis]:
    """Run the decoder along given outputs (teacher forcing, one step at a time), returning
    each token's log-probability and the attention the model had while producing it.
    ``top_k``: also the k most probable next words at each step (``Hypothesis.top_k``: per step
    their ids and log-probabilities, best first), what the model would have preferred there."""
    model.eval()
    device = next(model.parameters()).device
    enc_attn, enc = _encoder_attention(_encode(model, src_ids, device), src_ids)
    state = model.init_state(enc)
    n, steps = len(src_ids), max((len(t) for t in trg_ids), default=0)
    forced = pad([[SOS_IDX] + list(t) for t in trg_ids]).to(device)  # [n, steps+1]
    attn_steps, log_probs, tops = [], [], []
    for t in range(steps):
        logits, state, attn = model.step(forced[:, t], state, enc)
        attn_steps.append(attn)
        step_log_probs = _log_probs(logits)                                     # [n, V]
        log_probs.append(step_log_probs.gather(1, forced[:, t + 1, None])[:, 0])
        if top_k:
            tops.append(step_log_probs.topk(min(top_k, step_log_probs.size(-1)), dim=-1))  # [n, k] each
    log_probs = torch.stack(log_probs, dim=1).tolist() if steps else [[] for _ in range(n)]  # [n, steps]
    step_lp = [log_probs[i][: len(trg_ids[i])] for i in range(n)]
    attention = _attention_along(attn_steps, [[t * n + i for t in range(len(trg_ids[i]))] for i in range(n)], src_ids)
    hyps = [Hypothesis(list(trg_ids[i]), sum(step_lp[i]), length_normalised(sum(step_lp[i]), len(trg_ids[i]), 1.0),
                       {**attention[i], **enc_attn[i]}, step_lp[i])
            for i in range(n)]
    for t, (values, ids) in enumerate(tops):
        for i, hyp in enumerate(hyps):
            if t < len(trg_ids[i]):
                hyp.top_k.append((ids[i].tolist(), values[i].tolist()))
    return hyps
