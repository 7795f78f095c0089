"""How much of each output word comes from the source: ALTI+ against integrated gradients, on the shipped Transformer.

    SEQ2SEQ_DATA_DIR=/path/to/multi30k python bench/alti_vs_ig.py [--sentences 50] [--threads 1] [--json out.json]

Greedy translations of the first ``--sentences`` German sentences of test_2016_flickr, each output step (including
<eos>) explained twice: ALTI+ (``analysis/alti.py``; source share = the row sum of its source map, the rest being
the prefix's) and integrated gradients over the source and the decoder's input embeddings at once
(``attribution.source_and_prefix``, 16 points; source share = sum |source| / (sum |source| + sum |prefix|)). Prints
one JSON object: the mean source share of each over all output words and over sentences, their Pearson correlation
per word, the mean of each by output position (first, middle, <eos>), and the seconds per sentence of each (p50,
mean, p95; wall clock, after one warm-up sentence).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "transformer"))
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from seq2seq.analysis.alti import alti_plus
    from seq2seq.analysis.attribution import source_and_prefix
    from seq2seq.data import find_split_files, read_lines
    from seq2seq.translator import load_checkpoint

    translator = load_checkpoint(args.checkpoint, "cpu")
    [path] = find_split_files("test_2016_flickr", ["de"])
    texts = read_lines(path)[: args.sentences]
    jobs = [translator.ids(t) for t in translator.translate(texts)]
    model = translator.model
    alti_plus(model, *jobs[0]), source_and_prefix(model, *jobs[0])            # warm-up
    alti_share, ig_share, alti_s, ig_s = [], [], [], []
    for src, trg in jobs:
        start = time.perf_counter()
        a = alti_plus(model, src, trg).source_share
        alti_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        g = source_and_prefix(model, src, trg).source_share
        ig_s.append(time.perf_counter() - start)
        alti_share.append(a)
        ig_share.append(g)
    a_all, g_all = torch.cat(alti_share), torch.cat(ig_share)
    r = torch.corrcoef(torch.stack([a_all, g_all]))[0, 1].item()

    def by_position(shares):
        return {"first": statistics.mean(float(s[0]) for s in shares),
                "middle": statistics.mean(float(s[len(s) // 2]) for s in shares),
                "last (<eos>)": statistics.mean(float(s[-1]) for s in shares)}

    result = {
        "checkpoint": args.checkpoint, "sentences": len(jobs), "output_words": len(a_all), "threads": args.threads,
        "mean_source_words": statistics.mean(len(s) for s, _ in jobs),
        "source_share": {
            "alti_plus": {"per_word": a_all.mean().item(),
                          "per_sentence": statistics.mean(s.mean().item() for s in alti_share),
                          "by_position": by_position(alti_share)},
            "integrated_gradients": {"per_word": g_all.mean().item(),
                                     "per_sentence": statistics.mean(s.mean().item() for s in ig_share),
                                     "by_position": by_position(ig_share)},
            "pearson_per_word": r,
        },
        "seconds_per_sentence": {
            name: {"p50": pct(xs, 0.5), "mean": statistics.mean(xs), "p95": pct(xs, 0.95)}
            for name, xs in (("alti_plus", alti_s), ("integrated_gradients", ig_s))},
    }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
