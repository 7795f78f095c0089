"""Compare checkpoints on a whole test set: each one's translations kept beside it, and whether the differences
between their scores are real (sacreBLEU's paired bootstrap and approximate randomization, for every pair).

    python -m seq2seq.compare checkpoints                         # the six shipped models, test_2016_flickr, beam 5
    python -m seq2seq.compare checkpoints/luong checkpoints/convs2s --split val --beam 1
    python -m seq2seq.compare checkpoints --json                  # print the significance file instead of tables

For each checkpoint it writes ``test_outputs.json`` (``outputs_SPLIT_beamK.json`` for another split or beam)
beside it: the hypothesis of every sentence as the metric reads it, its sentence BLEU and chrF, the scores by
source length and by the rarest source word's training count, word accuracy by training frequency, and how the
map's coverage of each source word relates to the words the translation missed (``seq2seq.analysis.outputs``).
A file that still matches the checkpoint's weights and the test set is reused (``--recompute`` redoes it).
Then it runs sacreBLEU's paired tests on every pair of the checkpoints and writes ``significance.json``
(``significance_SPLIT_beamK.json``) in the folder that holds them (``--significance FILE`` elsewhere), and prints
each model's BLEU and chrF with its 95% confidence interval, and each pair's difference with both p-values.
Translating 1,000 sentences at beam 5 takes about a minute per model on one CPU thread; the tests take about
a minute for six models. The words a translation missed need eflomal (``requirements-dev.txt``; the reference
alignments are computed once, about 40 s, and cached), ``--no-alignments`` leaves them out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .analysis.outputs import (DEFAULT_BEAM, DEFAULT_SPLIT, OutputsError, compute_outputs, current, load_test_set,
                               outputs_path, read_outputs, significance_path, text_digest, write_outputs)
from .analysis.significance import ALPHA, AR_TRIALS, BOOTSTRAP_SAMPLES, SEED, paired_tests, significant
from .checkpoint import CheckpointError, find_checkpoints, read_config, write_json
from .data import DataNotFoundError


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def checkpoint_dirs(paths) -> list[Path]:
    """Every checkpoint named: a checkpoint directory, or every checkpoint directly under a folder."""
    found = []
    for p in paths:
        dirs = find_checkpoints(Path(p))
        if not dirs:
            raise CheckpointError(f"{p} is no checkpoint (a directory with config.json) and holds none")
        found += [d for d in dirs if d not in found]
    return found


def outputs_of(checkpoints: list[Path], test, beam: int, length_penalty: float, recompute: bool = False,
               batch_size: int = 64) -> dict[str, dict]:
    """Each checkpoint's outputs on the test set: its file when it is current, else computed and written."""
    from .translator import load_checkpoint

    out = {}
    for path in checkpoints:
        file = outputs_path(path, test.name, beam)
        if not recompute and file.is_file():
            try:
                data = read_outputs(file)
                why = current(data, path, test, beam, length_penalty)
            except OutputsError as e:
                why = str(e)
            if why is None:
                log(f"{path.name}: {file} is current, reused")
                out[path.name] = data
                continue
            log(f"{path.name}: {file} is outdated ({why}), recomputing")
        start = time.perf_counter()
        translator = load_checkpoint(path)
        data = compute_outputs(translator, test, beam, length_penalty, batch_size, name=path.name)
        write_outputs(file, data)
        log(f"{path.name}: BLEU {data['scores']['bleu']:.2f}, chrF {data['scores']['chrf']:.2f} "
            f"({time.perf_counter() - start:.0f} s) -> {file}")
        out[path.name] = data
    return out


def significance_of(outputs: dict[str, dict], test, bootstrap: int = BOOTSTRAP_SAMPLES, trials: int = AR_TRIALS,
                    seed: int = SEED) -> dict:
    """sacreBLEU's paired tests on every pair, models ordered best BLEU first (so each difference a − b is the
    better minus the worse), with what they were computed from."""
    names = sorted(outputs, key=lambda n: -outputs[n]["scores"]["bleu"])
    result = paired_tests({n: outputs[n]["hypotheses"] for n in names}, test.split.trg_tokens,
                          bootstrap_samples=bootstrap, ar_trials=trials, seed=seed)
    first = outputs[names[0]]
    for n in names:
        result["models"][n]["hypotheses_digest"] = text_digest(outputs[n]["hypotheses"])
        result["models"][n]["arch"] = outputs[n]["arch"]
    return {"format": "seq2seq-significance", "split": test.name, "beam": first["beam"],
            "length_penalty": first["length_penalty"], "reference_digest": first["reference_digest"], **result}


def report(sig: dict) -> str:
    """The significance file as two plain-text tables."""
    lines = [f"{sig['split']}, beam {sig['beam']}, {sig['sentences']} sentences; sacreBLEU paired bootstrap "
             f"({sig['bootstrap_samples']} resamples) and approximate randomization ({sig['ar_trials']} trials), "
             f"seed {sig['seed']}; 95% confidence intervals from the bootstrap", "",
             f"{'model':<14} {'BLEU':>7} {'95% CI':>15} {'chrF':>7} {'95% CI':>15}"]
    for name, m in sig["models"].items():
        b, c = m["bleu"], m["chrf"]
        lines.append(f"{name:<14} {b['score']:7.2f} {b['mean'] - b['ci']:7.2f}-{b['mean'] + b['ci']:<7.2f} "
                     f"{c['score']:7.2f} {c['mean'] - c['ci']:7.2f}-{c['mean'] + c['ci']:<7.2f}")
    lines += ["", f"{'A − B':<28} {'ΔBLEU':>7} {'p bs':>7} {'p ar':>7}   {'ΔchrF':>7} {'p bs':>7} {'p ar':>7}  "
              f"{'sentences differing':>19}"]
    for p in sig["pairs"]:
        cells = []
        for m in ("bleu", "chrf"):
            e = p[m]
            star = "*" if significant(p, m, sig.get("alpha", ALPHA)) else " "
            cells.append(f"{e['delta']:+7.2f} {e['p_bootstrap']:7.4f} {e['p_ar']:7.4f} {star}")
        lines.append(f"{p['a'] + ' − ' + p['b']:<28} " + "  ".join(cells) + f" {p.get('differing', ''):>19}")
    lines += ["", f"* p < {sig.get('alpha', ALPHA)} by both tests"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="checkpoint directories, or folders of them")
    parser.add_argument("--split", default=DEFAULT_SPLIT, help="reads SPLIT.{src}.gz and SPLIT.{trg}.gz")
    parser.add_argument("--beam", type=int, default=DEFAULT_BEAM, help="beam size (1 = greedy)")
    parser.add_argument("--length-penalty", type=float, default=1.0)
    parser.add_argument("--data-dir", help="Multi30k directory (default: $SEQ2SEQ_DATA_DIR, then data/multi30k)")
    parser.add_argument("--recompute", action="store_true", help="translate again even where a current file exists")
    parser.add_argument("--no-alignments", action="store_true",
                        help="leave out the words each translation missed (they need eflomal)")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP_SAMPLES, help="bootstrap resamples")
    parser.add_argument("--trials", type=int, default=AR_TRIALS, help="approximate randomization trials")
    parser.add_argument("--seed", type=int, default=SEED, help="sacreBLEU's seed (not 0, which it reads as none)")
    parser.add_argument("--significance", help="where to write the pairwise tests (default: beside the checkpoints)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print the significance file as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        checkpoints = checkpoint_dirs(args.checkpoints)
        config = read_config(checkpoints[0])
        test = load_test_set(args.split, config["src_lang"], config["trg_lang"], args.data_dir,
                             alignments=not args.no_alignments, log=log)
    except (CheckpointError, DataNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    outputs = outputs_of(checkpoints, test, args.beam, args.length_penalty, args.recompute)
    if len(outputs) < 2:
        log("one checkpoint: its outputs are written; the paired tests need two")
        return 0
    log(f"paired tests on {len(outputs) * (len(outputs) - 1) // 2} pairs ...")
    sig = significance_of(outputs, test, args.bootstrap, args.trials, args.seed)
    parents = {p.parent for p in checkpoints}
    where = Path(args.significance) if args.significance else significance_path(
        parents.pop() if len(parents) == 1 else Path("."), test.name, args.beam)
    write_json(where, sig)
    log(f"-> {where}")
    print(json.dumps(sig, indent=1) if args.json else report(sig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
