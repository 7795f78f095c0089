"""Signed attributions of each output word to the source words, with Captum, for every model.

Teacher-force an output ``y`` and explain each output word's log-probability

    f_t(x) = log p(y_t | y_<t, x)          (or, contrastively, log p(y_t | ...) - log p(w' | ...))

by the source word embeddings ``x = (e_1 .. e_S)`` (the output of ``model.src_embedding``):

* **Integrated gradients** (Sundararajan et al. 2017; ``captum.attr.IntegratedGradients``):
  ``(e_j - e'_j) . integral_0^1 d f_t(e' + a (e - e')) / d e_j da``, with the baseline ``e'`` the
  zero vector at every position, which is the ``<pad>`` embedding of every model (``padding_idx``
  rows are zero); positions, lengths and attention masks stay those of the real sentence, since the
  model still reads the real token ids (only the embeddings' output is replaced). The integral is
  Gauss-Legendre quadrature with ``N_STEPS`` = 16 points (Captum's default method). Completeness (a row
  sums to ``f_t(x) - f_t(baseline)``; ``Attribution.completeness_gap``) then holds, on the greedy translations
  of the first test_2016_flickr sentences, within 5% of ``|f_t(x) - f_t(baseline)|`` for 99.8% of the LSTM's
  output words (median gap 0.00%), 99.3% of ConvS2S's (median 0.01%, 95th percentile 0.7%) and 97.8% of the
  Transformer's (median 0.6%, 95th percentile 3.1%), whose ReLUs make the integrand jump; 32 points halve
  the Transformer's gaps (0.3%, 1.6%) at twice the time, which the app cannot afford (a tiny random
  Transformer is off by more than 5% either way).
* **Input x gradient** (Shrikumar et al. 2016; ``captum.attr.InputXGradient``): ``e_j . d f_t / d e_j``.

Both are summed over the embedding dimensions and kept SIGNED (positive: the word raised the
probability). Maps are ``[T, S]``: rows the output words (ending with ``<eos>`` if it is among them),
columns the source words in source order (the LSTM embeds its source reversed, ``reverses_source``;
the embeddings fed to it are flipped, so its columns come out in source order like every other's).

How it is batched: each output step t needs its own gradient, so the sentence is copied once per
output step (copy t is differentiated for step t only, as the registry's saliency does, ``maps.py``), and Captum stacks the
copies once per quadrature point; the model is run through its contract (``encode``, ``init_state``,
``decoder_step``, ``logits``), copy t leaving the batch after step t and the output layer applied only
to the one row each copy needs. Captum's ``internal_batch_size`` cuts the copies into chunks of at most
``CHUNK_TOKENS`` token passes. The work grows with quadrature points x output length x (source + output
length): what a map may cost, and the refusal of a costlier one, are the map registry's (``maps.py``), which
is how the app and the tests ask for these maps.

Also here: contrastive attributions (``foils``: why y_t rather than w' at step t), :func:`source_and_prefix`
(integrated gradients over the source and the target-side input embeddings at once: how much of each
output word comes from the source and how much from the words already written). Their benchmark is
``python bench/attribution.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from captum.attr import InputXGradient, IntegratedGradients

from ..data import PAD_IDX, SOS_IDX
from ..models.base import Seq2Seq, index_batch

N_STEPS = 16                 # Gauss-Legendre points of integrated gradients (see the module's docstring)
BASELINE = "zero embedding at every position (= the <pad> embedding); ids, positions and masks unchanged"
METHODS = ("integrated_gradients", "input_x_gradient")
CHUNK_TOKENS = 12_000        # token passes per forward/backward (bounds memory; larger gains little on CPU)


# ---------------------------------------------------------------------------- the function Captum differentiates


class _Forced:
    """``f(src_emb[, trg_emb], step, target, foil) -> [N]``: per row, the log-probability of the
    forced word ``target`` at output step ``step`` (minus that of ``foil`` where ``foil >= 0``), the
    model reading the embeddings given instead of its own (forward hooks on its embedding layers)."""

    def __init__(self, model: Seq2Seq, src_ids: list[int], trg_in: list[int], with_prefix: bool):
        self.model, self.with_prefix = model, with_prefix
        device = next(model.parameters()).device
        self.src = torch.tensor(src_ids, device=device)
        self.trg_in = torch.tensor(trg_in, device=device)        # <sos>, y_0 .. y_{T-2}
        if with_prefix and not isinstance(getattr(model, "trg_embedding", None), torch.nn.Module):
            raise ValueError(f"{model.arch or type(model).__name__} has no trg_embedding: no prefix attribution")

    def __call__(self, *args):
        if self.with_prefix:
            src_emb, trg_emb, step, target, foil = args
        else:
            (src_emb, step, target, foil), trg_emb = args, None
        model, n = self.model, src_emb.size(0)
        src = self.src.expand(n, -1)
        lens = torch.full((n,), src.size(1), device=src.device)
        fed = src_emb.flip(1) if model.reverses_source else src_emb   # the LSTM embeds its source reversed
        rows = torch.arange(n, device=src.device)                         # rows of the batch still decoding
        me = threading.get_ident()      # the hooks replace outputs only here, never in another thread's translation

        def feed_source(module, inputs, out):
            return fed if threading.get_ident() == me else None

        hooks = [model.src_embedding.register_forward_hook(feed_source)]
        if trg_emb is not None:
            position = [0]

            def feed_target(module, inputs, out):                         # one decoder input per step
                if threading.get_ident() != me:
                    return None
                return trg_emb[rows, position[0]].reshape(out.shape)

            hooks.append(model.trg_embedding.register_forward_hook(feed_target))
        try:
            enc = model.encode(src, lens)
            enc = {k: v for k, v in enc.items() if k != "encoder_self"}   # never read by the decoder
            state = model.init_state(enc)
            done_rows, values = [], []
            last = int(step.max())
            for t in range(last + 1):
                if trg_emb is not None:
                    position[0] = t
                features, state, _ = model.decoder_step(self.trg_in[t].expand(len(rows)), state, enc)
                here = step[rows] == t
                if bool(here.any()):
                    finished = rows[here]
                    logits = model.logits(features[here]).float()
                    logits = logits.masked_fill(_never_output(logits), float("-inf"))   # as decoding does
                    log_probs = torch.log_softmax(logits, dim=-1)
                    value = log_probs.gather(1, target[finished, None])[:, 0]
                    foils = foil[finished]
                    contrast = log_probs.gather(1, foils.clamp_min(0)[:, None])[:, 0]
                    values.append(torch.where(foils >= 0, value - contrast, value))
                    done_rows.append(finished)
                if t < last:
                    keep = (step[rows] > t).nonzero()[:, 0]
                    if len(keep) < len(rows):
                        rows, state, enc = rows[keep], index_batch(state, keep), index_batch(enc, keep)
        finally:
            for h in hooks:
                h.remove()
        order = torch.cat(done_rows)
        return torch.zeros(n, device=src.device, dtype=values[0].dtype).index_put((order,), torch.cat(values))


def _never_output(logits: torch.Tensor) -> torch.Tensor:
    """<pad> and <sos> are never outputs (``decoding._log_probs``)."""
    mask = torch.zeros(logits.size(-1), dtype=torch.bool, device=logits.device)
    mask[[PAD_IDX, SOS_IDX]] = True
    return mask


# ---------------------------------------------------------------------------- the attributions


@dataclass
class Attribution:
    """Signed attributions along one forced output."""

    source: torch.Tensor              # [R, S] to each source word (source order)
    prefix: torch.Tensor | None       # [R, T] to each decoder input (<sos>, y_0 .. y_{T-2}); None: not asked
    steps: list[int]                  # the output step of each row
    value: torch.Tensor               # [R] f at the input (log p, or the log-probability difference)
    baseline_value: torch.Tensor | None   # [R] f at the baseline (integrated gradients only)

    @property
    def completeness_gap(self) -> torch.Tensor:
        """[R] |sum of a row's attributions - (f(input) - f(baseline))| / |f(input) - f(baseline)|."""
        total = self.source.sum(-1) + (self.prefix.sum(-1) if self.prefix is not None else 0)
        diff = self.value - self.baseline_value
        return (total - diff).abs() / diff.abs().clamp_min(1e-6)


def attribute(model: Seq2Seq, src_ids: list[int], trg_ids: list[int], method: str = "integrated_gradients",
              steps: list[int] | None = None, foils: list[int] | None = None, prefix: bool = False,
              n_steps: int = N_STEPS, reduce: str = "sum") -> Attribution:
    """Attributions of the forced output ``trg_ids`` (without <sos>; end it with <eos> to include that step)
    to the source embeddings (and, with ``prefix``, to the decoder's input embeddings too).

    ``method``: "integrated_gradients" or "input_x_gradient". ``steps``: which output steps (rows),
    default all. ``foils``: per row a word id to contrast with (log p(y_t) - log p(foil)), or -1 / None
    for plain log p(y_t). ``reduce``: how a word's attribution is made one number from its embedding
    dimensions, "sum" (signed, the default) or "norm" (the L2 norm, unsigned: the saliency map of ``maps.py``)."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    model.eval()
    device = next(model.parameters()).device
    T, S = len(trg_ids), len(src_ids)
    steps = list(range(T)) if steps is None else [int(s) for s in steps]
    if any(not 0 <= s < T for s in steps):
        raise ValueError(f"output steps must lie in 0..{T - 1}")
    foils = [-1 if f is None else int(f) for f in (foils if foils is not None else [None] * len(steps))]
    if len(foils) != len(steps):
        raise ValueError("one foil per step")
    if any(f >= model.trg_vocab_size or f in (PAD_IDX, SOS_IDX) or f < -1 for f in foils):
        raise ValueError("a foil must be a word the model can write (not <pad> or <sos>)")
    R = len(steps)
    if not R or not S:
        return Attribution(torch.zeros(R, S), torch.zeros(R, T) if prefix else None, steps, torch.zeros(R),
                           torch.zeros(R) if method == "integrated_gradients" else None)
    forward = _Forced(model, src_ids, [SOS_IDX] + list(trg_ids[:-1]), prefix)
    step = torch.tensor(steps, device=device)
    target = torch.tensor([trg_ids[s] for s in steps], device=device)
    foil = torch.tensor(foils, device=device)
    with torch.no_grad():
        src_emb = model.src_embedding(torch.tensor([src_ids], device=device)).float().expand(R, -1, -1).contiguous()
        inputs = (src_emb,)
        if prefix:
            trg_emb = model.trg_embedding(forward.trg_in[None]).float().expand(R, -1, -1).contiguous()
            inputs = (src_emb, trg_emb)
    extra = (step, target, foil)
    # cuDNN's RNN backward refuses eval mode; the native kernels do not.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
        if method == "integrated_gradients":
            baselines = tuple(torch.zeros_like(x) for x in inputs)
            per_copy = S + max(steps) + 1
            batch = max(R, (CHUNK_TOKENS // per_copy) // R * R)
            attributions = IntegratedGradients(forward).attribute(
                inputs, baselines, additional_forward_args=extra, n_steps=n_steps, method="gausslegendre",
                internal_batch_size=batch)
            with torch.no_grad():
                value, base = forward(*inputs, *extra), forward(*baselines, *extra)
        else:
            inputs = tuple(x.requires_grad_() for x in inputs)
            attributions = InputXGradient(forward).attribute(inputs, additional_forward_args=extra)
            with torch.no_grad():
                value, base = forward(*inputs, *extra), None
    if reduce not in ("sum", "norm"):
        raise ValueError(f"reduce must be 'sum' or 'norm', not {reduce!r}")
    one = (lambda x: x.detach().sum(-1)) if reduce == "sum" else (lambda x: x.detach().norm(dim=-1))  # noqa: E731
    source = one(attributions[0]).float().cpu()
    pre = one(attributions[1]).float().cpu() if prefix else None
    return Attribution(source, pre, steps, value.detach().float().cpu(),
                       None if base is None else base.detach().float().cpu())


@dataclass
class SourcePrefix:
    """Integrated gradients over the source and the decoder's input embeddings at once."""

    source: torch.Tensor              # [T, S] signed, to each source word
    prefix: torch.Tensor              # [T, T] signed, to each decoder input: <sos>, y_0 .. y_{T-2} (row t:
                                      # only columns 0..t can be non-zero, the decoders being causal)
    source_share: torch.Tensor        # [T] sum |source| / (sum |source| + sum |prefix|), in [0, 1]
    prefix_share: torch.Tensor        # [T] 1 - source_share (the <sos> column counts as prefix)
    completeness_gap: torch.Tensor | None  # [T] see Attribution.completeness_gap (None: not a gradient method)


def source_and_prefix(model: Seq2Seq, src_ids: list[int], trg_ids: list[int], n_steps: int = N_STEPS) -> SourcePrefix:
    """Per output word, how much of its log-probability integrated gradients put on the source and how
    much on the words already written (the target prefix, starting with <sos>); baseline zero for both."""
    a = attribute(model, src_ids, trg_ids, "integrated_gradients", prefix=True, n_steps=n_steps)
    source_share = share(a.source, a.prefix)
    return SourcePrefix(a.source, a.prefix, source_share, 1 - source_share, a.completeness_gap)


def share(source: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """[T] sum |source| / (sum |source| + sum |prefix|) of each row: how much of an output word is the source's."""
    on_source, on_prefix = source.abs().sum(-1), prefix.abs().sum(-1)
    return on_source / (on_source + on_prefix).clamp_min(1e-12)
