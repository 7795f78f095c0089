"""How fast our decoding is, against the tutorials' way, on the same weights; and the app's cold start.

    python bench/decoding.py                                   # every checkpoint under checkpoints/, 2 threads
    python bench/decoding.py --archs transformer convs2s --limit 100 --reference-limit 20
    python bench/decoding.py --json bench.json --device cuda

For every checkpoint, greedy and beam 5, two ways on the same loaded model:

  ours       ``Translator.translate`` (seq2seq/decoding.py): the source encoded once, the decoder
             advanced one token at a time from its cached state (Transformer keys/values, ConvS2S
             windows), sentences and beams batched, each leaving the batch at its <eos>.
  reference  the tutorials' way: one sentence at a time, and at every step the whole prefix goes
             through ``model.forward`` (teacher-forced logits for all positions) of which only
             the last position is used; beam search does so for every live hypothesis in turn.
             The source is encoded once per sentence, as the tutorials do.

Both use the same length limits, length penalty and stopping rule, so they must give the same
token ids; where float noise flips a near-tie the mismatches are counted, not hidden.

Measured: single-sentence latency (p50/p95 over ``--latency-sentences``), sentences per second
on the test split (ours batched over ``--limit`` sentences; the reference one at a time over
the first ``--reference-limit``, which is said in the table), the speedups (b)/(a), and the
peak resident memory (VmHWM) while each checkpoint was measured. Then the app: a fresh
``python`` process that imports the library and loads every checkpoint (cold start), translates
one 12-word sentence with all of them at beam 5 (first request), and reports its memory; and,
in this process, that request repeated (p50/p95).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from seq2seq.checkpoint import find_checkpoints  # noqa: E402
from seq2seq.data import EOS_IDX, SOS_IDX, load_split  # noqa: E402
from seq2seq.decoding import _log_probs, default_max_len, length_normalised  # noqa: E402
from seq2seq.models import Seq2Seq, index_batch  # noqa: E402
from seq2seq.translator import load_checkpoint  # noqa: E402

SENTENCE = "Ein Junge in einem roten Hemd spielt mit seinem Hund im Park."  # 12 words: the app's request
MODES = {"greedy": 1, "beam5": 5}


# ---------------------------------------------------------------------------- the reference way


@contextlib.contextmanager
def encoded_once(model: Seq2Seq, src_ids: list[int]):
    """Within the block ``model.forward`` reuses this sentence's encoding (batch expanded as asked)
    instead of re-running the encoder: the tutorials encode once and re-run only the decoder."""
    device = next(model.parameters()).device
    src = torch.tensor([src_ids], device=device)
    lens = torch.tensor([len(src_ids)], device=device)
    enc = model.encode(src, lens)
    model.encode = lambda s, _: index_batch(enc, torch.zeros(s.size(0), dtype=torch.long, device=device))
    try:
        yield src, lens
    finally:
        del model.encode


def next_log_probs(model: Seq2Seq, src, lens, prefix: list[int]) -> torch.Tensor:
    """[1, V] next-word log-probabilities after ``prefix``: the whole prefix recomputed, the last position kept."""
    return _log_probs(model(src, lens, torch.tensor([[SOS_IDX] + prefix], device=src.device))[:, -1])


@torch.no_grad()
def reference_greedy(model: Seq2Seq, src_ids: list[int], max_len: int | None = None) -> list[int]:
    """Tutorial greedy search over one sentence. Returns the ids, ending with <eos> if finished."""
    model.eval()
    out = []
    with encoded_once(model, src_ids) as (src, lens):
        for _ in range(default_max_len(len(src_ids), model, max_len)):
            out.append(next_log_probs(model, src, lens, out).max(dim=-1)[1].item())
            if out[-1] == EOS_IDX:
                break
    return out


@torch.no_grad()
def reference_beam(model: Seq2Seq, src_ids: list[int], beam_size: int = 5, length_penalty: float = 1.0,
                   max_len: int | None = None) -> list[int]:
    """Tutorial beam search over one sentence, with the rules of ``decoding.beam_search``: of the
    2k best continuations, an <eos> among the first k finishes a hypothesis, the k best others
    stay live; done at k finished or the length limit; ranked by log_prob / length ** penalty."""
    model.eval()
    k, limit = beam_size, default_max_len(len(src_ids), model, max_len)
    live, scores = [[]], torch.zeros(1)          # prefixes and their float32 log-probabilities
    finished = []                                # (normalised score, ids)
    with encoded_once(model, src_ids) as (src, lens):
        for t in range(limit):
            log_probs = torch.cat([next_log_probs(model, src, lens, p) for p in live])  # [n, V], one call each
            vocab = log_probs.size(-1)
            top_scores, top_ids = (scores.to(log_probs.device)[:, None] + log_probs).view(-1).topk(min(2 * k, log_probs.numel()))
            next_live, next_scores = [], []
            for rank, (score, i) in enumerate(zip(top_scores.tolist(), top_ids.tolist())):
                prefix, token = live[i // vocab], i % vocab
                if token == EOS_IDX:
                    if rank < k and score > float("-inf") and len(finished) < k:
                        finished.append((length_normalised(score, t + 1, length_penalty), prefix + [EOS_IDX]))
                elif len(next_live) < k and score > float("-inf"):
                    next_live.append(prefix + [token])
                    next_scores.append(score)
            if t + 1 >= limit:                   # out of length: the live hypotheses end here, unfinished
                finished += [(length_normalised(s, t + 1, length_penalty), p) for p, s in zip(next_live, next_scores)]
                finished = finished[:k]
            if len(finished) >= k or t + 1 >= limit or not next_live:
                break
            live, scores = next_live, torch.tensor(next_scores)
    return sorted(finished, key=lambda h: -h[0])[0][1]


def reference_translate(translator, text: str, beam_size: int) -> tuple[list[str], bool]:
    """One sentence the reference way: (output tokens before <unk> replacement, finished)."""
    src_ids = translator.src_vocab.encode(translator.tokenize(text)[0])
    if not src_ids:
        return [], True
    ids = reference_greedy(translator.model, src_ids) if beam_size == 1 else reference_beam(translator.model, src_ids, beam_size)
    finished = ids[-1:] == [EOS_IDX]
    return translator.trg_vocab.decode(ids[:-1] if finished else ids), finished


# ---------------------------------------------------------------------------- measuring


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_mb() -> dict:
    """Resident memory of this process now and at its peak (VmRSS, VmHWM), in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1), "peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024, 1)}


def reset_peak_memory() -> None:
    """Start a new VmHWM window (Linux: writing 5 to clear_refs resets the peak to the current RSS)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def percentiles(seconds: list[float]) -> dict:
    s = sorted(seconds)
    pick = lambda q: s[min(len(s) - 1, round(q * (len(s) - 1)))]  # noqa: E731  nearest rank
    return {"p50_s": round(pick(0.5), 4), "p95_s": round(pick(0.95), 4), "n": len(s)}


def timed(fn, *args):
    """(fn(*args), seconds). Both ways end in Python lists of ids, so a GPU is synchronised by then."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def ours_outputs(translations) -> list[tuple[list[str], bool]]:
    return [(t.raw_tokens, t.finished) for t in translations]


def bench_mode(translator, texts: list[str], beam: int, args) -> dict:
    """Latency, throughput and output equality of ours vs the reference for one beam size."""
    translator.translate(texts[:1], beam_size=beam)                                   # warm up
    reference_translate(translator, texts[0], beam)
    ours_latency = [timed(translator.translate, [t], beam)[1] for t in texts[: args.latency_sentences]]
    ours, ours_s = timed(lambda: translator.translate(texts, beam_size=beam, batch_size=args.batch_size))
    ref_texts = texts[: args.reference_limit or None]
    ref, ref_latency = [], []
    for text in ref_texts:
        out, seconds = timed(reference_translate, translator, text, beam)
        ref.append(out)
        ref_latency.append(seconds)
    mismatches = [i for i, (a, b) in enumerate(zip(ours_outputs(ours), ref)) if a != b]
    a, b = percentiles(ours_latency), percentiles(ref_latency[: args.latency_sentences])
    ours_tp = {"sentences": len(texts), "seconds": round(ours_s, 3), "sentences_per_second": round(len(texts) / ours_s, 2)}
    ref_tp = {"sentences": len(ref_texts), "seconds": round(sum(ref_latency), 3),
              "sentences_per_second": round(len(ref_texts) / sum(ref_latency), 2)}
    return {
        "beam": beam,
        "latency": {"ours": a, "reference": b, "speedup_p50": round(b["p50_s"] / a["p50_s"], 2)},
        "throughput": {"ours": ours_tp, "reference": ref_tp,
                       "speedup": round(ours_tp["sentences_per_second"] / ref_tp["sentences_per_second"], 2)},
        "agreement": {"compared": len(ref), "identical": len(ref) - len(mismatches),
                      "rate": round(1 - len(mismatches) / max(len(ref), 1), 4),
                      "mismatches": [{"index": i, "source": texts[i], "ours": " ".join(ours[i].raw_tokens),
                                      "reference": " ".join(ref[i][0])} for i in mismatches[:5]]},
    }


def bench_checkpoint(translator, texts: list[str], args) -> dict:
    reset_peak_memory()
    result = {"arch": translator.arch, "path": str(translator.path), "parameters": translator.model.num_parameters()}
    for name, beam in MODES.items():
        result[name] = bench_mode(translator, texts, beam, args)
    result["peak_rss_mb"] = memory_mb()["peak_rss_mb"]
    if torch.device(args.device).type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return result


def app_request(translators, beam: int, repeats: int) -> dict:
    """The app's request in this (warm) process: SENTENCE with every model, one after another."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for t in translators:
            t.translate([SENTENCE], beam_size=beam)
        seconds.append(time.perf_counter() - start)
    return percentiles(seconds)


COLD_START = """
import json, sys, time
start = time.perf_counter()
import torch
paths, threads, device, sentence, beam = json.loads(sys.argv[1])
torch.set_num_threads(threads)
from seq2seq import load_checkpoint
imported = time.perf_counter()
translators = [load_checkpoint(p, device) for p in paths]
loaded, loaded_at = time.perf_counter(), time.time()
for t in translators:
    t.translate([sentence], beam_size=beam)
if device.startswith("cuda"):
    torch.cuda.synchronize()
done = time.perf_counter()
from bench.decoding import memory_mb
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "loaded_at": loaded_at,
                  "first_request_s": done - loaded, **memory_mb()}))
"""


def app_cold_start(paths: list[Path], args) -> dict:
    """A fresh interpreter: import + load every checkpoint (cold start), then the first request."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    spec = json.dumps([[str(p) for p in paths], args.threads, args.device, SENTENCE, 5])
    started = time.time()
    out = subprocess.run([sys.executable, "-c", COLD_START, spec], env=env, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"models": len(paths), "cold_start_s": round(r["loaded_at"] - started, 3), "import_s": round(r["import_s"], 3),
            "load_s": round(r["load_s"], 3), "first_request_s": round(r["first_request_s"], 3),
            "rss_mb": r["rss_mb"], "peak_rss_mb": r["peak_rss_mb"]}


# ---------------------------------------------------------------------------- report


def targets(report: dict) -> list[dict]:
    """The issue's targets, each with what was measured; ``met`` is None where this run cannot
    tell (fewer than the six models, or part of the split)."""
    rows = []
    for m in report["models"]:
        if m["arch"] in ("transformer", "convs2s"):
            lat = m["beam5"]["latency"]
            rows.append({"target": f"{m['arch']} beam 5, one sentence: >= 3x faster than the reference, identical output",
                         "measured": f"{lat['speedup_p50']}x (p50 {lat['ours']['p50_s']}s vs {lat['reference']['p50_s']}s), "
                                     f"{m['beam5']['agreement']['rate']:.1%} identical",
                         "met": lat["speedup_p50"] >= 3 and m["beam5"]["agreement"]["rate"] == 1.0})
    six = len(report["models"]) == 6
    total = sum(m["beam5"]["throughput"]["ours"]["seconds"] for m in report["models"])
    n, whole = report["sentences"], report["split_sentences"]
    measured = f"{total:.1f} s for {n} sentences, {len(report['models'])} models"
    if n < whole:
        measured += f" (x{whole / n:.1f}: ~{total * whole / n:.0f} s for {whole})"
    rows.append({"target": f"{report['split']} ({whole} sentences), beam 5, all six models: <= 60 s in all",
                 "measured": measured, "met": total <= 60 if six and n == whole else None})
    if "app" in report:
        app, cold = report["app"], report["app"]["cold_start"]
        rows += [
            {"target": "all six models at beam 5 on one 12-word sentence: p50 < 0.5 s",
             "measured": f"{app['request']['p50_s']} s (p95 {app['request']['p95_s']} s)",
             "met": app["request"]["p50_s"] < 0.5 if six else None},
            {"target": "app cold start (start python, import, load all checkpoints) < 10 s",
             "measured": f"{cold['cold_start_s']} s (import {cold['import_s']} s, load {cold['load_s']} s); "
                         f"first request {cold['first_request_s']} s", "met": cold["cold_start_s"] < 10 if six else None},
            {"target": "resident memory with all six loaded < 1.5 GB",
             "measured": f"{cold['rss_mb']} MB after the first request (peak {cold['peak_rss_mb']} MB)",
             "met": cold["peak_rss_mb"] < 1536 if six else None},
        ]
    return rows


def table(report: dict) -> str:
    lines = ["| model | decoding | latency p50 ours / ref | p95 ours / ref | speedup | test sent/s ours / ref | speedup | identical | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in report["models"]:
        for name in MODES:
            r = m[name]
            lat, tp, ag = r["latency"], r["throughput"], r["agreement"]
            lines.append(f"| {m['arch']} | {name} | {lat['ours']['p50_s'] * 1000:.0f} / {lat['reference']['p50_s'] * 1000:.0f} ms "
                         f"| {lat['ours']['p95_s'] * 1000:.0f} / {lat['reference']['p95_s'] * 1000:.0f} ms | {lat['speedup_p50']}x "
                         f"| {tp['ours']['sentences_per_second']} / {tp['reference']['sentences_per_second']} "
                         f"(ref on {tp['reference']['sentences']}) | {tp['speedup']}x | {ag['identical']}/{ag['compared']} "
                         f"| {m['peak_rss_mb']:.0f} MB |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    verdict = {True: "yes", False: "NO", None: "n/a: partial run"}
    lines += [f"| {t['target']} | {t['measured']} | {verdict[t['met']]} |" for t in report["targets"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/decoding.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="checkpoints", help="a checkpoint directory or a directory of them")
    parser.add_argument("--archs", nargs="+", help="only these architectures")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--data-dir", help="Multi30k directory (default: $SEQ2SEQ_DATA_DIR, then data/multi30k)")
    parser.add_argument("--limit", type=int, help="throughput of ours over the first N sentences (default: all)")
    parser.add_argument("--reference-limit", type=int, default=100, help="the reference way over the first N (0: all)")
    parser.add_argument("--latency-sentences", type=int, default=20, help="single-sentence latency over the first N")
    parser.add_argument("--batch-size", type=int, default=64, help="Translator.translate batch size (sentences x beams)")
    parser.add_argument("--app-repeats", type=int, default=10, help="repeats of the app request (all models, beam 5)")
    parser.add_argument("--skip-app", action="store_true", help="no cold-start subprocess or app request")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the Space has 2 CPU cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the report as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    paths = [p for p in find_checkpoints(args.checkpoints)
             if not args.archs or json.loads((p / "config.json").read_text())["arch"] in args.archs]
    if not paths:
        print(f"error: no checkpoints under {args.checkpoints}", file=sys.stderr)
        return 2
    report = {"device": args.device, "threads": args.threads, "torch": torch.__version__,
              "cpu": cpu_name(), "cpu_count": os.cpu_count(), "split": args.split, "models": []}
    translators = [load_checkpoint(p, args.device) for p in paths]
    split = load_split(args.split, translators[0].config["src_lang"], translators[0].config["trg_lang"], args.data_dir)
    texts = split.limit(args.limit).src_text
    report.update(sentences=len(texts), split_sentences=len(split))
    for translator in translators:
        result = bench_checkpoint(translator, texts, args)
        report["models"].append(result)
        print(f"{translator.arch}: done ({result['peak_rss_mb']:.0f} MB peak)", file=sys.stderr)
    if not args.skip_app:
        report["app"] = {"sentence": SENTENCE, "request": app_request(translators, 5, args.app_repeats),
                         "cold_start": app_cold_start(paths, args)}
    report["targets"] = targets(report)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
