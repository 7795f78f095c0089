"""How truthful is each map: ERASER's deletion tests (DeYoung et al. 2020) on forced outputs.

A map ranks the source words for each output word. If it is faithful, removing the words it ranks
highest should hurt that output word most, and keeping only them should keep most of it. With the
output forced (the model's own greedy translation, or the reference), for each output word y_t:

    comprehensiveness(k) = p(y_t | full source) - p(y_t | the map's top-k source words removed)   higher: better
    sufficiency(k)       = p(y_t | full source) - p(y_t | only the top-k kept)                    lower: better

with k = 1, 2 and 20% of the source (``ceil(S / 5)``, so at least 1; k never exceeds S). A word is
"removed" by replacing it with ``<unk>``, which keeps every position (and the source length) as it was;
each masked copy of the sentence is decoded along the same forced output prefix, many copies at once
through ``forced_decode``. Probabilities, not log-probabilities. Both are averaged over every output word
(``<eos>`` included) of every sentence, pooled.

The maps (``MAP_KINDS``; ``compute_maps``) are the registry's (``maps.py``), each [T, S], ranked highest value
first: ``cross`` (cross-attention, the mean of layers and heads: the app's map), ``cross_layer`` (expands to
``cross_layer_N``, one per layer, for multi-layer attention), ``cross_head`` (``cross_layer_N_head_H``, for
attention with several heads a layer, the Transformer: scored for alignment by default, for deletion only when
asked), the same three of ``value_weighted``, ``alti``, ``saliency``, ``integrated_gradients`` and
``input_x_gradient`` (signed: ranked by the signed value, the words that raised p(y_t) most), ``occlusion``
(p(y_t | full) - p(y_t | word j removed) itself: the best possible ranking for k = 1, a ceiling for
comprehensiveness at k = 1, not a map a model shows) and ``random`` (seeded per sentence: the floor).

The same command scores each map's alignment quality too (AER against a statistical aligner, ``alignment.py``):

    python -m seq2seq.analysis.faithfulness CHECKPOINT [--split test_2016_flickr] [--limit N] [--only deletion|alignment]
                                            [--reference FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import EOS_IDX, UNK_IDX
from ..decoding import forced_decode
from ..models.base import Seq2Seq
from . import maps
from .attribution import N_STEPS

MAP_KINDS = ("cross", "cross_layer", "cross_head", "value_weighted", "value_weighted_layer", "value_weighted_head",
             "alti", "saliency", "integrated_gradients", "input_x_gradient", "occlusion", "random")
# What each test scores unless --maps says otherwise: occlusion is no alignment (it has no argmax worth scoring
# against words, and is slow), and every head's deletion test would cost the run several times over.
DEFAULT_KINDS = {"deletion": tuple(k for k in MAP_KINDS if k not in ("cross_head", "value_weighted_head")),
                 "alignment": tuple(k for k in MAP_KINDS if k != "occlusion")}
KS = ("1", "2", "20%")
METRICS = ("comprehensiveness", "sufficiency")
BATCH_ROWS = 256      # masked copies decoded at once


def top_k_count(label: str, src_len: int) -> int:
    """How many source words "1", "2" or "20%" means for a source of ``src_len`` words (at least 1, at most S)."""
    k = -(-src_len // 5) if label == "20%" else int(label)
    return max(1, min(k, src_len))


def ranking(scores: torch.Tensor) -> list[int]:
    """Source positions, highest score first (ties: the earlier position first)."""
    order = sorted(range(len(scores)), key=lambda j: (-float(scores[j]), j))
    return order


def masked(src_ids: list[int], positions, keep: bool) -> tuple[int, ...]:
    """The source with ``positions`` replaced by <unk> (``keep=False``), or all but them (``keep=True``)."""
    chosen = set(positions)
    return tuple(w if ((j in chosen) == keep) else UNK_IDX for j, w in enumerate(src_ids))


def forced_probs(model: Seq2Seq, requests: list[tuple[int, tuple[int, ...]]], trg_ids: list[int]) -> dict:
    """p(y_t | masked source) for each (t, masked source): each copy is decoded along ``trg_ids[:t + 1]``,
    copies sorted by t and decoded ``BATCH_ROWS`` at a time."""
    out = {}
    todo = sorted(set(requests))
    for first in range(0, len(todo), BATCH_ROWS):
        chunk = todo[first: first + BATCH_ROWS]
        hyps = forced_decode(model, [list(src) for _, src in chunk], [trg_ids[: t + 1] for t, _ in chunk])
        for (t, src), hyp in zip(chunk, hyps):
            out[(t, src)] = math.exp(hyp.step_log_probs[t])
    return out


def compute_maps(forced: maps.Forced, kinds=DEFAULT_KINDS["deletion"]) -> dict[str, torch.Tensor]:
    """Every map of ``kinds`` (``MAP_KINDS``) that the model has, each [T, S] (rows the forced output, columns
    the source): "KIND_layer" expands to KIND_layer_1 .. L when the kind has more than one layer, "KIND_head" to
    KIND_layer_L_head_H when a layer has more than one head. MapTooLong if one would cost too much."""
    out = {}
    for name in kinds:
        kind, _, part = name.rpartition("_") if name.endswith(("_layer", "_head")) else (name, "", "")
        if not maps.KINDS[kind].offered(forced.model):
            continue
        if not part:
            out[name] = maps.source_map(name, forced)
        else:
            out.update({k: v for k, v in maps.expand(kind, forced, layers=part == "layer", heads=part == "head").items()
                        if k != kind})
    return out


@dataclass
class Scores:
    """Per map kind, metric and k: one value per output word (pooled over the sentences scored)."""

    values: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    sentences: int = 0
    words: int = 0
    skipped: int = 0                  # sentences too long for the gradient maps (``maps.MAX_COST``)

    def add(self, kind: str, metric: str, k: str, value: float) -> None:
        self.values.setdefault(kind, {}).setdefault(metric, {}).setdefault(k, []).append(value)

    def merge(self, other: "Scores") -> None:
        for kind, metrics in other.values.items():
            for metric, ks in metrics.items():
                for k, vs in ks.items():
                    self.values.setdefault(kind, {}).setdefault(metric, {}).setdefault(k, []).extend(vs)
        self.sentences += other.sentences
        self.words += other.words
        self.skipped += other.skipped

    def means(self) -> dict[str, dict[str, dict[str, float]]]:
        return {kind: {metric: {k: sum(vs) / len(vs) for k, vs in ks.items()} for metric, ks in metrics.items()}
                for kind, metrics in self.values.items()}


def sentence_scores(forced: maps.Forced, scored: dict[str, torch.Tensor] | None = None, ks=KS) -> Scores:
    """Comprehensiveness and sufficiency of each map (``compute_maps`` unless given) for one sentence along
    its forced output (end it with <eos> to score that step too)."""
    model, src_ids, trg_ids = forced.model, forced.src_ids, forced.trg_ids
    T, S = len(trg_ids), len(src_ids)
    scores = Scores(sentences=1, words=T)
    if not T or not S:
        return scores
    full = forced.probs
    if scored is None:
        scored = compute_maps(forced)
    plan = []                                        # (kind, k, t, comprehensiveness copy, sufficiency copy)
    for kind, weights in scored.items():
        for t in range(T):
            order = ranking(weights[t])
            for k in ks:
                top = order[: top_k_count(k, S)]
                plan.append((kind, k, t, masked(src_ids, top, keep=False), masked(src_ids, top, keep=True)))
    probs = forced_probs(model, [(t, c) for *_, t, c, _ in plan] + [(t, s) for *_, t, _, s in plan], trg_ids)
    for kind, k, t, comp, suff in plan:
        scores.add(kind, "comprehensiveness", k, full[t] - probs[(t, comp)])
        scores.add(kind, "sufficiency", k, full[t] - probs[(t, suff)])
    return scores


# ---------------------------------------------------------------------------- a test set


def corpus_scores(translator, src_texts: list[str], references: list[list[str]] | None = None, ks=KS,
                  kinds=DEFAULT_KINDS["deletion"], seed: int = 0, progress=None) -> tuple[Scores, dict[str, float]]:
    """ERASER scores of every map kind over sentences: the output forced is each sentence's greedy
    translation (``references`` None) or its reference tokens. Returns the scores and seconds spent per part."""
    model = translator.model
    seconds = {"translate": 0.0, "maps": 0.0, "deletion": 0.0}
    start = time.perf_counter()
    if references is None:
        pairs = [translator.ids(t) for t in translator.translate(src_texts)]
    else:
        pairs = [(translator.src_vocab.encode(translator.tokenize(s)[0]), translator.target_ids(r) + [EOS_IDX])
                 for s, r in zip(src_texts, references)]
    seconds["translate"] += time.perf_counter() - start
    total = Scores()
    for i, (src_ids, trg_ids) in enumerate(pairs):
        if not src_ids or not trg_ids:
            continue
        start = time.perf_counter()
        forced = maps.Forced(model, src_ids, trg_ids, seed=seed * 1_000_003 + i)
        try:
            scored = compute_maps(forced, kinds)
        except maps.MapTooLong:
            total.skipped += 1                       # too long for the gradient maps: left out of every map's mean
            continue
        seconds["maps"] += time.perf_counter() - start
        start = time.perf_counter()
        total.merge(sentence_scores(forced, scored, ks))
        seconds["deletion"] += time.perf_counter() - start
        if progress:
            progress(i + 1, len(pairs))
    return total, seconds


def table(means: dict, ks=KS) -> str:
    """One line per map kind: comprehensiveness and sufficiency at each k."""
    head = (f"{'map':<22}" + "".join(f"{'comp@' + k:>10}" for k in ks) + "".join(f"{'suff@' + k:>10}" for k in ks))
    lines = [head, "-" * len(head)]
    for kind, m in means.items():
        lines.append(f"{kind:<22}" + "".join(f"{m['comprehensiveness'][k]:10.4f}" for k in ks)
                     + "".join(f"{m['sufficiency'][k]:10.4f}" for k in ks))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.analysis.faithfulness",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint directory, or hf://USER/NAME[@REVISION][/MODEL]")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--limit", type=int, help="only the first N sentences")
    parser.add_argument("--force", choices=("greedy", "reference"), default="greedy",
                        help="the output forced in the deletion test: the model's greedy translation (default) "
                             "or the reference (the alignment test always forces the reference)")
    parser.add_argument("--only", choices=("deletion", "alignment"), help="run one of the two tests")
    parser.add_argument("--maps", nargs="+", choices=MAP_KINDS, metavar="KIND",
                        help=f"the map kinds to score ({', '.join(MAP_KINDS)}; default all but attention_head for "
                             "the deletion test, all but occlusion for the alignment test)")
    parser.add_argument("--reference", help="Pharaoh links for the split (default: eflomal + grow-diag-final, cached)")
    parser.add_argument("--seed", type=int, default=0, help="of the random maps")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--save", action="store_true",
                        help="also keep the results in the checkpoint's metrics.json (docs/faithfulness.md, the Leaderboard and "
                             "cards read them there)")
    args = parser.parse_args(argv)

    from ..checkpoint import CheckpointError
    from ..data import DataNotFoundError, load_split
    from ..tools.hub import resolve_model
    from ..translator import load_checkpoint
    from .alignment import corpus_alignment_error, parse_links, reference_alignments

    try:
        translator = load_checkpoint(resolve_model(args.checkpoint))
        src, trg = translator.config["src_lang"], translator.config["trg_lang"]
        split = load_split(args.split, src, trg, args.data_dir)
        sure = possible = None
        if args.only != "deletion":
            if args.reference:
                parsed = [parse_links(line) for line in Path(args.reference).read_text().split("\n")[: len(split)]]
                sure, possible = [p[0] for p in parsed], [p[1] for p in parsed]
            else:
                sure = reference_alignments(args.split, src, trg, args.data_dir, log=lambda m: print(m, file=sys.stderr))
    except (CheckpointError, DataNotFoundError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    split = split.limit(args.limit)
    out = {"arch": translator.arch, "checkpoint": str(args.checkpoint), "split": args.split, "sentences": len(split),
           "n_steps": N_STEPS, "torch_threads": torch.get_num_threads()}

    def progress_from(start, every):
        def progress(done, total):
            if done % every == 0 or done == total:
                print(f"  {done}/{total} sentences, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        return progress

    if args.only != "alignment":
        start = time.perf_counter()
        scores, seconds = corpus_scores(translator, split.src_text,
                                        split.trg_tokens if args.force == "reference" else None,
                                        kinds=tuple(args.maps or DEFAULT_KINDS["deletion"]), seed=args.seed,
                                        progress=progress_from(start, 25))
        means, elapsed = scores.means(), time.perf_counter() - start
        print(f"{translator.arch}: deletion test on {scores.sentences} sentences of {args.split}, {scores.words} "
              f"output words ({args.force} output forced), {elapsed:.0f} s; removal = <unk>, k = 1, 2, 20% of the source"
              + (f"; {scores.skipped} too long, left out" if scores.skipped else ""))
        print("comprehensiveness: p(y|full) - p(y|top-k removed), higher is better; "
              "sufficiency: p(y|full) - p(y|only top-k kept), lower is better")
        print(table(means))
        out["deletion"] = {"sentences": scores.sentences, "skipped": scores.skipped, "words": scores.words,
                           "force": args.force, "removal": "<unk>", "ks": list(KS), "seconds": round(elapsed, 1),
                           "seconds_by_part": {k: round(v, 1) for k, v in seconds.items()}, "scores": means}
    if args.only != "deletion":
        start = time.perf_counter()
        result = corpus_alignment_error(translator, split.src_text, split.trg_tokens, sure, possible,
                                        kinds=tuple(k for k in args.maps or DEFAULT_KINDS["alignment"]
                                                    if k != "occlusion"),
                                        progress=progress_from(start, 50))
        elapsed = time.perf_counter() - start
        reference = args.reference or "eflomal + grow-diag-final"
        print(f"{translator.arch}: AER on {len(split)} sentences of {args.split} (reference forced), against "
              f"{reference}; {elapsed:.0f} s. Lower is better.")
        print(f"{'map':<22}{'argmax':>10}{'shifted':>10}")
        for kind, v in result.items():
            print(f"{kind:<22}{v['argmax']:10.4f}{v['shifted']:10.4f}")
        out["alignment"] = {"sentences": len(split), "reference": reference, "seconds": round(elapsed, 1),
                            "aer": result}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.save:
        save(resolve_model(args.checkpoint), out)
    return 0


def save(checkpoint, result: dict) -> None:
    """Keep a run's results (``main``'s JSON) in the checkpoint's metrics.json under "faithfulness". A run of one
    test (``--only``) replaces that test's results and keeps the other's: each says how many sentences it ran on.
    A run on as many sentences as the kept results adds its map kinds to theirs (e.g. ``--maps value_weighted``)."""
    from ..checkpoint import read_metrics, write_json

    metrics = read_metrics(checkpoint)
    kept = {k: v for k, v in (metrics.get("faithfulness") or {}).items() if k in ("deletion", "alignment")}
    new = {k: v for k, v in result.items() if k != "checkpoint"}
    for test, per_kind in (("deletion", "scores"), ("alignment", "aer")):
        old = kept.get(test)
        if test in new and old and old.get("sentences") == new[test]["sentences"] and per_kind in old:
            # a run of some map kinds (--maps) on as many sentences adds them to those already measured
            new[test] = {**new[test], per_kind: {**old[per_kind], **new[test][per_kind]},
                         "seconds": round(old.get("seconds", 0) + new[test].get("seconds", 0), 1)}
    metrics["faithfulness"] = {**kept, **new}
    write_json(Path(checkpoint) / "metrics.json", metrics)


if __name__ == "__main__":
    sys.exit(main())
