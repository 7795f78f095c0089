"""Is one model's score really higher than another's? sacreBLEU's paired tests, for every pair of models.

    result = paired_tests({"luong": hyps_a, "convs2s": hyps_b, ...}, references)
    result["models"]["luong"]["bleu"]     # {"score", "mean", "ci"}: corpus BLEU, its bootstrap mean and 95% half-width
    result["pairs"][0]                    # {"a", "b", "identical", "bleu": {"a", "b", "delta" (a − b), "p_bootstrap",
                                          #  "p_ar"},
                                          #  "chrf": {...}}

Hypotheses and references are the project's metric tokens (lowercased spaCy tokens, ``Translator.words``),
joined by single spaces here, and scored as ``seq2seq.evaluate.corpus_scores`` scores them: BLEU with
``tokenize="none"``, chrF with sacreBLEU's defaults (chrF2). The tests themselves are sacreBLEU's
(``sacrebleu.significance.PairedTest``), never rewritten here:

- *paired bootstrap resampling* (Koehn 2004; ``test_type="bs"``): ``bootstrap_samples`` resamples of the test
  set, the same for both systems; p is the share of resamples whose (centred) difference exceeds the observed
  one. It also gives each model's bootstrap mean and 95% confidence interval (± half-width).
- *approximate randomization* (Riezler & Maxwell 2005; ``test_type="ar"``): ``ar_trials`` random swaps of the
  two systems' outputs sentence by sentence; p is the share of swaps whose difference exceeds the observed one.

Both are two-sided and seeded (``seed``, sacreBLEU's ``SACREBLEU_SEED``), so a run is reproducible.

One correction: sacreBLEU counts a resample as "at least as different" only when its difference is strictly
greater than the observed one, so two *identical* outputs (every difference exactly 0) get the smallest p
possible, 1/(n + 1), as if they differed significantly. Identical outputs are no evidence of a difference:
for them p is 1 (and the pair says ``identical``). The same strictness makes approximate randomization too
confident when the outputs differ in only a handful of sentences (most swaps then tie with the observed
difference): each pair says in how many sentences its outputs differ (``differing``; every pair of the shipped
models differs in several hundred of the 1,000).
"""

from __future__ import annotations

import contextlib
import logging
import os
from itertools import combinations

import sacrebleu
from sacrebleu.significance import PairedTest

# The project's metrics as sacreBLEU objects (the same settings as seq2seq.evaluate.corpus_scores), and the key
# sacreBLEU gives each in its results.
METRICS = {"bleu": lambda: sacrebleu.BLEU(tokenize="none", force=True), "chrf": lambda: sacrebleu.CHRF()}
BOOTSTRAP_SAMPLES, AR_TRIALS, SEED = 1000, 10_000, 12345
ALPHA = 0.05


def _text(sentences) -> list[str]:
    return [s if isinstance(s, str) else " ".join(s) for s in sentences]


@contextlib.contextmanager
def _seeded(seed: int):
    """sacreBLEU reads its seed from the environment, in PairedTest and in its bootstrap of the baseline."""
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    level = logging.getLogger("sacrebleu").level
    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    try:
        yield
    finally:
        logging.getLogger("sacrebleu").setLevel(level)
        if old is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = old


def _run(baseline: tuple[str, list[str]], others: list[tuple[str, list[str]]], references: list[str], metrics,
         test_type: str, samples: int, seed: int):
    """One sacreBLEU PairedTest: ``baseline`` against each of ``others``. Returns (signatures, {metric: [Result]})
    with the baseline's result first, keyed by our metric names."""
    objects = {m: METRICS[m]() for m in metrics}
    with _seeded(seed):
        test = PairedTest([baseline, *others], objects, [references], test_type=test_type, n_samples=samples)
        signatures, scores = test()
    # sacreBLEU names each metric by its own name (e.g. "BLEU", "chrF2"), in the order of ``metrics``
    names = [k for k in scores if k != "System"]
    return ({m: str(signatures[n]) for m, n in zip(metrics, names)},
            {m: scores[n] for m, n in zip(metrics, names)})


def paired_tests(systems: dict[str, list], references: list, metrics=("bleu", "chrf"), tests=("bs", "ar"),
                 bootstrap_samples: int = BOOTSTRAP_SAMPLES, ar_trials: int = AR_TRIALS, seed: int = SEED) -> dict:
    """Every pair of ``systems`` (name -> one hypothesis per reference, a string or a token list) compared on
    ``references`` by sacreBLEU's paired bootstrap ("bs") and approximate randomization ("ar"). Each model's
    score, bootstrap mean and 95% confidence half-width come from the bootstrap (``tests`` must include "bs" for
    them). Pairs are (a, b) in the order of ``systems``; ``delta`` is a − b."""
    names = list(systems)
    hyps = {n: _text(systems[n]) for n in names}
    refs = _text(references)
    if any(len(h) != len(refs) for h in hyps.values()):
        raise ValueError("every system needs one hypothesis per reference: "
                         + ", ".join(f"{n} {len(h)}" for n, h in hyps.items()) + f", references {len(refs)}")
    if len(names) < 2:
        raise ValueError("a paired test needs two systems at least")
    samples = {"bs": bootstrap_samples, "ar": ar_trials}
    models: dict[str, dict] = {n: {} for n in names}
    pairs = {(a, b): {"a": a, "b": b, "identical": hyps[a] == hyps[b],
                      "differing": sum(x != y for x, y in zip(hyps[a], hyps[b]))} for a, b in combinations(names, 2)}
    signatures = {}
    for i, a in enumerate(names[:-1]):
        others = [(b, hyps[b]) for b in names[i + 1:]]
        for test in tests:
            sig, scores = _run((a, hyps[a]), others, refs, metrics, test, samples[test], seed)
            signatures.update({f"{m} {test}": s for m, s in sig.items()})
            for m in metrics:
                results = scores[m]
                for name, r in zip([a] + [b for b, _ in others], results):
                    if test == "bs":
                        models[name][m] = {"score": round(r.score, 4), "mean": round(float(r.mean), 4),
                                           "ci": round(float(r.ci), 4)}
                    else:
                        models[name].setdefault(m, {"score": round(r.score, 4)})
                for (b, _), r in zip(others, results[1:]):
                    pair = pairs[(a, b)]
                    entry = pair.setdefault(m, {"a": round(results[0].score, 4), "b": round(r.score, 4),
                                                "delta": round(results[0].score - r.score, 4)})
                    entry[f"p_{'bootstrap' if test == 'bs' else 'ar'}"] = 1.0 if pair["identical"] else float(r.p_value)
    return {"metrics": list(metrics), "tests": list(tests), "bootstrap_samples": bootstrap_samples,
            "ar_trials": ar_trials, "seed": seed, "alpha": ALPHA, "sentences": len(refs), "signatures": signatures,
            "models": models, "pairs": list(pairs.values())}


def significant(pair: dict, metric: str, alpha: float = ALPHA) -> bool | None:
    """Whether a pair's difference in ``metric`` is significant at ``alpha`` by every test that was run (None when
    none was)."""
    entry = pair.get(metric) or {}
    ps = [entry[k] for k in ("p_bootstrap", "p_ar") if k in entry]
    return None if not ps else all(p < alpha for p in ps)


def find_pair(result: dict, a: str, b: str) -> tuple[dict, int] | None:
    """The pair of ``a`` and ``b`` in a ``paired_tests`` result and its sign: +1 if stored as (a, b), −1 if as
    (b, a) (so ``sign * delta`` is a − b); None if absent."""
    for pair in result.get("pairs", []):
        if (pair["a"], pair["b"]) == (a, b):
            return pair, 1
        if (pair["a"], pair["b"]) == (b, a):
            return pair, -1
    return None


def confidence_interval(hypotheses: list, references: list, metric: str = "bleu",
                        bootstrap_samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> dict:
    """One system's score with sacreBLEU's bootstrap mean and 95% confidence half-width (a PairedTest of the
    system alone): {"score", "mean", "ci"}."""
    _, scores = _run(("system", _text(hypotheses)), [], _text(references), (metric,), "bs", bootstrap_samples, seed)
    r = scores[metric][0]
    return {"score": round(r.score, 4), "mean": round(float(r.mean), 4), "ci": round(float(r.ci), 4)}
