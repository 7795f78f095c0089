"""How training's memory and time grow with the corpus: Multi30k's training pairs repeated and shuffled to
N pairs, then one ``train.py`` run per size on that corpus (SentencePiece, the named-file options), in its
own process, measured from outside.

    python bench/corpus_scaling.py --sizes 30000 300000 3000000 --max-steps 0 0 400 --json docs/scaling.json

For each size it reports: the preparation (reading, SentencePiece training, encoding into the id cache),
the training steps and seconds per step, the epoch's seconds (measured when the whole epoch ran; else the
steps of an epoch times the measured seconds per step, marked "projected"), and the peak resident memory
of the training process (its own ``ru_maxrss``, from ``wait4``). Validation is Multi30k's (1,014 pairs) at every size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq.data import find_split_files, read_lines  # noqa: E402


def make_corpus(where: Path, n: int, src: list[str], trg: list[str], seed: int = 0) -> tuple[Path, Path]:
    """``n`` pairs: the corpus repeated as often as needed, in a shuffled order, written gzipped."""
    rng = random.Random(seed)
    order = [i % len(src) for i in range(n)]
    rng.shuffle(order)
    paths = where / f"train{n}.de.gz", where / f"train{n}.en.gz"
    for path, lines in zip(paths, (src, trg)):
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
            f.writelines(lines[i] + "\n" for i in order)
    return paths


def run_size(n: int, files, valid, args, where: Path) -> dict:
    out = where / f"ckpt{n}"
    cmd = [sys.executable, "train.py", "--arch", args.arch, "--train", *map(str, files), "--valid", *map(str, valid),
           "--vocab", "sentencepiece", "--vocab-size", str(args.vocab_size), "--epochs", "1", "--test-beam", "0",
           "--out", str(out), *args.extra]
    max_steps = args.max_steps.get(n, 0)
    if max_steps:
        cmd += ["--max-steps", str(max_steps)]
    env = {**os.environ, "SEQ2SEQ_CACHE_DIR": str(where / "cache"), "SEQ2SEQ_THREADS": str(args.threads),
           "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, prepared = [], None
    for line in proc.stdout:                       # the first line comes once the data is ready
        lines.append(line)
        if prepared is None and " parameters on " in line:
            prepared = time.perf_counter() - start
    _, status, usage = os.wait4(proc.pid, 0)       # this child's own peak memory
    wall = time.perf_counter() - start
    output = "".join(lines)
    if status:
        raise SystemExit(f"{n} pairs: train.py failed\n{output}")
    steps_per_epoch = int(re.search(r"(\d+) steps/epoch", output).group(1))
    epoch = re.search(r"epoch 1: .*?, (\d+)s \((\d+) tok/s\)", output)
    seconds = json.loads((out / "metrics.json").read_text())["history"][0]["seconds"]
    steps = min(max_steps, steps_per_epoch) if max_steps else steps_per_epoch
    return {
        "pairs": n, "steps_per_epoch": steps_per_epoch, "steps_run": steps, "train_seconds": seconds,
        "seconds_per_step": round(seconds / steps, 3), "tokens_per_second": int(epoch.group(2)),
        "epoch_seconds": round(seconds / steps * steps_per_epoch), "epoch_projected": steps < steps_per_epoch,
        "preparation_seconds": round(prepared), "wall_seconds": round(wall),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
    }


def table(results: dict) -> str:
    lines = ["| pairs | steps an epoch | seconds a step | epoch | preparation | peak memory |",
             "|--:|--:|--:|--:|--:|--:|"]
    for r in results["rows"]:
        epoch = r["epoch_seconds"] / 60
        epoch = f"{epoch:.0f} min" if epoch < 120 else f"{epoch / 60:.1f} h"
        lines.append(f"| {r['pairs']:,} | {r['steps_per_epoch']:,} | {r['seconds_per_step']:.2f} | "
                     f"{epoch}{' (projected)' if r['epoch_projected'] else ''} | {r['preparation_seconds']} s | "
                     f"{r['peak_rss_mib']:,} MiB |")
    return "\n".join(lines)


def update(path: Path, results: dict) -> None:
    text = path.read_text()
    start, end = "<!-- scaling:start -->", "<!-- scaling:end -->"
    head, rest = text.split(start, 1)
    path.write_text(f"{head}{start}\n{table(results)}\n{end}{rest.split(end, 1)[1]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[30_000, 300_000, 3_000_000])
    p.add_argument("--max-steps", type=int, nargs="+", default=[0, 0, 400],
                   help="per size: stop after this many steps and project the epoch (0: run the whole epoch)")
    p.add_argument("--arch", default="gru")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py options (at the end)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--update", type=Path, metavar="MARKDOWN",
                   help="only rewrite the table between <!-- scaling:start --> and <!-- scaling:end --> in this file "
                        "from --json's results (no training)")
    args = p.parse_args(argv)
    if args.update:
        update(args.update, json.loads(args.json.read_text()))
        return 0
    args.max_steps = dict(zip(args.sizes, args.max_steps + [0] * len(args.sizes)))
    train_files = find_split_files("train", ("de", "en"))
    src, trg = (read_lines(f) for f in train_files)
    valid = find_split_files("val", ("de", "en"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        for n in args.sizes:
            files = make_corpus(Path(tmp), n, src, trg)
            row = run_size(n, files, valid, args, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
            for f in files:
                f.unlink()
    if args.json:
        args.json.write_text(json.dumps({"arch": args.arch, "vocab_size": args.vocab_size, "threads": args.threads,
                                         "extra": args.extra, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
