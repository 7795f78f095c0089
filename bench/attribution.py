"""How long integrated gradients take through every model: what one card's attribution map costs a click.

    python bench/attribution.py [--threads 2] [--sentences 20] [--words 12] [--json attribution-bench.json]

For ``--sentences`` test sentences of about ``--words`` words (the ones nearest that length), each model's greedy
translation is explained word by word with integrated gradients (``seq2seq.analysis.attribution.attribute``,
``--n-steps`` quadrature points, after one warm-up sentence). Prints, per model and for all of them one after
another, the seconds per sentence (p50, p95) by the wall clock and by this process's CPU time; and, with
``--workers`` > 1, the seconds for all the models at once, one model per worker thread on one torch thread each.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from seq2seq.analysis.attribution import N_STEPS, attribute  # noqa: E402
from seq2seq.data import find_split_files, read_lines  # noqa: E402
from seq2seq.translator import load_checkpoint  # noqa: E402


def integrated_gradients(model, src_ids: list[int], trg_ids: list[int], n_steps: int = N_STEPS) -> torch.Tensor:
    """[T, S] signed integrated gradients of each output word's log-probability over the source words."""
    return attribute(model, src_ids, trg_ids, "integrated_gradients", n_steps=n_steps).source


def benchmark(checkpoints: str = "checkpoints", split: str = "test_2016_flickr", sentences: int = 20,
              words: int = 12, n_steps: int = N_STEPS, archs: list[str] | None = None, workers: int = 1) -> dict:
    """Seconds of integrated gradients (all output words of each model's greedy translation) for
    ``sentences`` test sentences of about ``words`` words (the ones nearest that length), per model:
    p50, p95; the total over the models per sentence, one after another; and with ``workers`` > 1, the
    seconds for all the models at once, one model per worker thread on one torch thread each."""
    root = Path(checkpoints)
    names = archs or [a for a in ("lstm", "gru", "bahdanau", "luong", "convs2s", "transformer") if (root / a).is_dir()]
    translators = {a: load_checkpoint(root / a) for a in names}
    [path] = find_split_files(split, ["de"])
    lines = read_lines(path)
    first = next(iter(translators.values()))
    lengths = [len(first.tokenize(line)[0]) for line in lines]
    chosen = sorted(range(len(lines)), key=lambda i: (abs(lengths[i] - words), i))[:sentences]
    texts = [lines[i] for i in chosen]
    times, cpu = {a: [] for a in names}, {a: [] for a in names}
    for a, tr in translators.items():
        outputs = tr.translate(texts)
        integrated_gradients(tr.model, *tr.ids(outputs[0]), n_steps=n_steps)   # warm-up
        for t in outputs:
            src_ids, trg_ids = tr.ids(t)
            start, start_cpu = time.perf_counter(), time.process_time()
            integrated_gradients(tr.model, src_ids, trg_ids, n_steps=n_steps)
            times[a].append(time.perf_counter() - start)
            cpu[a].append(time.process_time() - start_cpu)
    totals = [sum(times[a][i] for a in names) for i in range(len(texts))]
    cpu_totals = [sum(cpu[a][i] for a in names) for i in range(len(texts))]
    together = []                 # all six at once, one model per worker thread (2 CPU cores: 2 workers)
    if workers > 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            jobs = {a: [tr.ids(t) for t in tr.translate(texts)] for a, tr in translators.items()}
            with ThreadPoolExecutor(workers) as pool:
                for i in range(len(texts)):
                    start = time.perf_counter()
                    list(pool.map(lambda a: integrated_gradients(translators[a].model, *jobs[a][i], n_steps=n_steps),
                                  sorted(names, key=lambda a: -times[a][i])))   # the slowest first
                    together.append(time.perf_counter() - start)
        finally:
            torch.set_num_threads(threads)

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]

    return {"sentences": len(texts), "mean_source_words": sum(lengths[i] for i in chosen) / len(chosen),
            "n_steps": n_steps, "threads": torch.get_num_threads(),
            "models": {a: {"p50": pct(times[a], 0.5), "p95": pct(times[a], 0.95),
                           "cpu_p50": pct(cpu[a], 0.5), "cpu_p95": pct(cpu[a], 0.95)} for a in names},
            "total": {"p50": pct(totals, 0.5), "p95": pct(totals, 0.95),
                      "cpu_p50": pct(cpu_totals, 0.5), "cpu_p95": pct(cpu_totals, 0.95)},
            **({"together": {"workers": workers, "p50": pct(together, 0.5), "p95": pct(together, 0.95)}}
               if together else {})}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--words", type=int, default=12)
    parser.add_argument("--n-steps", type=int, default=N_STEPS)
    parser.add_argument("--archs", nargs="*")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--workers", type=int, default=2,
                        help="also time all models at once, one per worker thread (default 2, for 2 cores; 1: no)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    r = benchmark(args.checkpoints, args.split, args.sentences, args.words, args.n_steps, args.archs, args.workers)
    print(f"integrated gradients, {r['n_steps']} steps, {r['sentences']} sentences of {r['mean_source_words']:.1f} "
          f"source words on average, torch threads {r['threads']}")
    print("seconds per sentence: wall clock, and this process's CPU time (all its threads)")
    print(f"{'model':<12} {'p50':>7} {'p95':>7} {'cpu p50':>8} {'cpu p95':>8}")
    for a, m in [*r["models"].items(), ("all six", r["total"])]:
        print(f"{a:<12} {m['p50']:7.3f} {m['p95']:7.3f} {m['cpu_p50']:8.3f} {m['cpu_p95']:8.3f}")
    if "together" in r:
        t = r["together"]
        print(f"all six at once, {t['workers']} worker threads on 1 torch thread each: p50 {t['p50']:.3f} s, "
              f"p95 {t['p95']:.3f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
