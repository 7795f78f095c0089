"""Where a model loses: scores of the test set cut into buckets, compare-mt's way (Neubig et al. 2019), and the
source words its attention left alone against the words its translation missed.

    sentence_buckets(hyps, refs, lengths, LENGTH_CUTOFFS)         corpus BLEU and chrF per source-length bucket
    sentence_buckets(hyps, refs, rarest, RAREST_CUTOFFS)          ... per bucket of the rarest source word's count
    word_accuracy(hyps, refs, train_counts)                       compare-mt's word F-measure by training frequency
    missing_source_words(src, ref, hyp, links)                    the source words whose translation is missing
    coverage_against_missing(coverages, aligned, missing, 0.5)    unattended words vs missing words, over a test set

Buckets are named as compare-mt names them: cutoffs (c_1, ..., c_n) make the buckets "<c_1", then "[c_i,c_i+1)"
(or just "c_i" when that holds one integer), and ">=c_n". Every score is the project's metric
(``seq2seq.evaluate.corpus_scores``: corpus BLEU over lowercased spaCy tokens, and chrF), each bucket's scored as a
corpus of its own, with sacreBLEU's bootstrap 95% confidence half-width (``significance.confidence_interval``): a
bucket of 50 sentences is a small test set.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict

from ..evaluate import corpus_scores
from .stats import is_punctuation

# Multi30k's test sentences are 5 to 31 source words long (median 11), so compare-mt's default length cutoffs
# (10, 20, ..., 60) would put nearly all of them in two buckets; these give seven of 48 to 233 sentences.
LENGTH_CUTOFFS = (8, 10, 12, 14, 17, 20)
# The training count of a sentence's rarest source word: compare-mt's frequency cutoffs (below), with 3-4 joined
# and everything from 100 up in one bucket (test_2016_flickr: 249 sentences hold a word never seen in training,
# one sentence has no word rarer than 1,000).
RAREST_CUTOFFS = (1, 2, 3, 5, 10, 100)
# compare-mt's own default for word accuracy by frequency.
WORD_CUTOFFS = (1, 2, 3, 4, 5, 10, 100, 1000)


def bucket_names(cutoffs) -> list[str]:
    """compare-mt's bucket labels for integer ``cutoffs``: (1, 2, 3, 5) -> ["<1", "1", "2", "[3,5)", ">=5"]."""
    names = []
    for i, x in enumerate(cutoffs):
        if i == 0:
            names.append(f"<{x}")
        elif x - 1 == cutoffs[i - 1]:
            names.append(f"{x - 1}")
        else:
            names.append(f"[{cutoffs[i - 1]},{x})")
    names.append(f">={cutoffs[-1]}")
    return names


def bucket_of(value: float, cutoffs) -> int:
    """The index of the bucket ``value`` falls in: the first cutoff it is below, else the last bucket."""
    return bisect_right(list(cutoffs), value)


def rarest_count(tokens: list[str], counts) -> int:
    """How often the sentence's rarest word occurs in training (``counts``: word -> training count); 0 when a
    word never occurs there (or the sentence is empty)."""
    return min((counts.get(t, 0) for t in tokens), default=0)


def sentence_buckets(hypotheses: list[list[str]], references: list[list[str]], values: list[float], cutoffs,
                     metrics=("bleu", "chrf"), confidence: bool = True, bootstrap_samples: int = 1000) -> list[dict]:
    """Corpus scores of the sentences in each bucket of ``values`` (one per sentence, e.g. its source length):
    [{"bucket", "sentences", "bleu", "bleu_ci", "chrf", "chrf_ci"}, ...] in bucket order; an empty bucket has
    None for its scores. ``confidence``: sacreBLEU's bootstrap 95% half-width of each score (else None)."""
    from .significance import confidence_interval

    members: dict[int, list[int]] = defaultdict(list)
    for i, v in enumerate(values):
        members[bucket_of(v, cutoffs)].append(i)
    out = []
    for b, name in enumerate(bucket_names(cutoffs)):
        index = members.get(b, [])
        row = {"bucket": name, "sentences": len(index)}
        hyps, refs = [hypotheses[i] for i in index], [references[i] for i in index]
        scores = corpus_scores(hyps, refs) if index else {}
        for m in metrics:
            row[m] = scores.get(m)
            row[f"{m}_ci"] = (confidence_interval(hyps, refs, m, bootstrap_samples)["ci"]
                              if confidence and len(index) > 1 else None)
        out.append(row)
    return out


def word_accuracy(hypotheses: list[list[str]], references: list[list[str]], counts, cutoffs=WORD_CUTOFFS) -> list[dict]:
    """compare-mt's word accuracy by frequency (``calc_bucketed_matches``): each output word matches the first
    unmatched occurrence of the same word in its reference; a word's bucket is its training count (``counts``).
    [{"bucket", "both", "reference", "output", "recall", "precision", "f"}, ...]: matched words, reference words
    and output words of the bucket, and recall, precision and their F-measure (0 when nothing matched)."""
    matches = [[0, 0, 0] for _ in bucket_names(cutoffs)]      # both, reference, output
    bucket = lambda w: bucket_of(counts.get(w, 0), cutoffs)    # noqa: E731
    for ref, out in zip(references, hypotheses):
        unmatched = Counter(ref)
        for w in out:
            b = bucket(w)
            if unmatched[w] > 0:
                unmatched[w] -= 1
                matches[b][0] += 1
                matches[b][1] += 1
            matches[b][2] += 1
        for w, n in unmatched.items():
            matches[bucket(w)][1] += n
    rows = []
    for name, (both, ref, out) in zip(bucket_names(cutoffs), matches):
        recall, precision = (both / ref, both / out) if both else (0.0, 0.0)
        f = 2 * precision * recall / (precision + recall) if both else 0.0
        rows.append({"bucket": name, "both": both, "reference": ref, "output": out, "recall": round(recall, 4),
                     "precision": round(precision, 4), "f": round(f, 4)})
    return rows


def missing_source_words(src: list[str], ref: list[str], hyp: list[str], links) -> tuple[list[int], list[int]]:
    """Which source words have a translation in the reference, and which of those the output misses.

    ``links``: (source position, reference position) word alignments of the source and its reference (eflomal's,
    ``alignment.reference_alignments``). A source word other than punctuation is *aligned* when it has a link; it is
    *missing* when none of the reference words it is linked to occurs anywhere in the output ``hyp`` (so a word
    the output dropped, or said with another word). Returns (aligned positions, missing positions), ascending."""
    linked: dict[int, set[str]] = defaultdict(set)
    for j, i in links:
        if 0 <= j < len(src) and 0 <= i < len(ref) and not is_punctuation(src[j]):
            linked[j].add(ref[i])
    words = set(hyp)
    aligned = sorted(linked)
    return aligned, [j for j in aligned if not linked[j] & words]


def coverage_against_missing(coverages: list[list[float]] | None, aligned: list[list[int]], missing: list[list[int]],
                             threshold: float = 0.5) -> dict:
    """Over a test set, the aligned source words (``missing_source_words``) split by whether the map left them
    unattended (their coverage, the total weight all output words gave them, below ``threshold``) and whether the
    output missed them. ``coverages``: each sentence's coverage per source word.

    Returns the counts, and the shares an engineer reads: ``unattended`` (of all aligned words), ``missing``,
    ``unattended_if_missing`` (of the missed words, the share the map had left unattended) and
    ``unattended_if_present`` (of the words translated); ``missing_if_unattended`` and ``missing_if_attended``
    (how much more often an unattended word goes missing). A share of nothing is None. Without maps
    (``coverages`` None: a model without attention) only the missed words are counted, the rest is None."""
    n = {"words": 0, "unattended": 0, "missing": 0, "missing_unattended": 0, "present_unattended": 0}
    for s, (al, mi) in enumerate(zip(aligned, missing)):
        gone = set(mi)
        for j in al:
            low = coverages is not None and coverages[s][j] < threshold
            n["words"] += 1
            n["unattended"] += low
            n["missing"] += j in gone
            n["missing_unattended"] += low and j in gone
            n["present_unattended"] += low and j not in gone
    share = lambda a, b: round(a / b, 4) if b else None    # noqa: E731
    present = n["words"] - n["missing"]
    attended = n["words"] - n["unattended"]
    if coverages is None:
        return {"threshold": None, "words": n["words"], "missing": n["missing"], "unattended": None,
                "missing_unattended": None, "present_unattended": None, "share_unattended": None,
                "share_missing": share(n["missing"], n["words"]), "unattended_if_missing": None,
                "unattended_if_present": None, "missing_if_unattended": None, "missing_if_attended": None}
    return {"threshold": threshold, **n,
            "share_unattended": share(n["unattended"], n["words"]),
            "share_missing": share(n["missing"], n["words"]),
            "unattended_if_missing": share(n["missing_unattended"], n["missing"]),
            "unattended_if_present": share(n["present_unattended"], present),
            "missing_if_unattended": share(n["missing_unattended"], n["unattended"]),
            "missing_if_attended": share(n["missing"] - n["missing_unattended"], attended)}
