"""The models compared on a whole test set: sacreBLEU's paired tests (seq2seq.analysis.significance), the
buckets (buckets), the ranking of the sentences where two models differ (differences), each checkpoint's test
outputs (outputs) and the command that writes them (seq2seq.compare). Hand-made cases whose answer is known;
the data tests use the Multi30k slice in tests/data."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from seq2seq.analysis import buckets
from seq2seq.analysis.buckets import (LENGTH_CUTOFFS, RAREST_CUTOFFS, WORD_CUTOFFS, bucket_names, bucket_of,
                                      coverage_against_missing, missing_source_words, sentence_buckets, word_accuracy)
from seq2seq.analysis.differences import rank_differences
from seq2seq.analysis.significance import confidence_interval, find_pair, paired_tests, significant
from seq2seq.evaluate import corpus_scores

WORDS = "a man dog woman child in the park on beach runs plays sits with red blue ball hat".split()


def corpus(n: int = 80, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [rng.choices(WORDS, k=rng.randint(6, 12)) for _ in range(n)]


# ---------------------------------------------------------------------------- significance


def test_identical_systems_are_not_significantly_different():
    refs = corpus()
    hyps = [r[:-1] + ["hat"] for r in refs]          # some errors, so no metric is at its ceiling
    result = paired_tests({"a": hyps, "b": [list(h) for h in hyps]}, refs, bootstrap_samples=200, ar_trials=500)
    [pair] = result["pairs"]
    assert pair["identical"]
    for m in ("bleu", "chrf"):
        assert pair[m]["delta"] == 0
        # sacreBLEU alone says 1/(n + 1) here, the smallest p there is: no evidence is not a significant difference
        assert pair[m]["p_bootstrap"] == pytest.approx(1.0) and pair[m]["p_ar"] == pytest.approx(1.0)
        assert significant(pair, m) is False


def test_a_much_better_system_differs_significantly_by_both_tests():
    refs = corpus()
    good = [list(r) for r in refs]
    good[::7] = [r[:-2] for r in refs[::7]]            # nearly the references
    bad = corpus(seed=1)                               # unrelated sentences
    result = paired_tests({"good": good, "bad": bad}, refs, bootstrap_samples=300, ar_trials=1000)
    [pair] = result["pairs"]
    for m in ("bleu", "chrf"):
        assert pair[m]["p_bootstrap"] < 0.05 and pair[m]["p_ar"] < 0.05
        assert significant(pair, m)
    # the scores are the project's metric, and delta is a − b
    g, b = corpus_scores(good, refs), corpus_scores(bad, refs)
    assert pair["bleu"]["a"] == pytest.approx(g["bleu"], abs=0.01) and pair["bleu"]["b"] == pytest.approx(b["bleu"], abs=0.01)
    assert pair["bleu"]["delta"] == pytest.approx(g["bleu"] - b["bleu"], abs=0.02) and pair["bleu"]["delta"] > 20
    assert pair["chrf"]["delta"] == pytest.approx(g["chrf"] - b["chrf"], abs=0.02)
    # each model's bootstrap interval holds its score; a (b, a) lookup flips the difference's sign
    for name in ("good", "bad"):
        m = result["models"][name]["bleu"]
        assert m["ci"] > 0 and m["mean"] - m["ci"] <= m["score"] <= m["mean"] + m["ci"]
    assert find_pair(result, "bad", "good") == (pair, -1) and find_pair(result, "good", "bad") == (pair, 1)


def noisy(refs, seed):
    """The references with one word of each dropped at random: a system of a certain quality."""
    rng = random.Random(seed)
    return [[w for j, w in enumerate(r) if j != rng.randrange(len(r))] for r in refs]


def test_two_systems_of_the_same_quality_are_not_significantly_different():
    refs = corpus(120)
    a, b = noisy(refs, 1), noisy(refs, 2)
    [pair] = paired_tests({"a": a, "b": b}, refs, bootstrap_samples=300, ar_trials=1000)["pairs"]
    assert not pair["identical"] and pair["differing"] > 100 and pair["bleu"]["delta"] != 0
    for m in ("bleu", "chrf"):
        assert pair[m]["p_bootstrap"] > 0.05 and pair[m]["p_ar"] > 0.05 and not significant(pair, m)


def test_significant_means_significant_by_every_test_run():
    assert significant({"bleu": {"p_bootstrap": 0.01, "p_ar": 0.01}}, "bleu")
    assert not significant({"bleu": {"p_bootstrap": 0.01, "p_ar": 0.2}}, "bleu")
    assert not significant({"bleu": {"p_bootstrap": 0.2, "p_ar": 0.01}}, "bleu")
    assert significant({"bleu": {"p_bootstrap": 0.04}}, "bleu") and significant({"bleu": {}}, "bleu") is None
    assert not significant({"bleu": {"p_bootstrap": 0.04}}, "bleu", alpha=0.01)


def test_every_pair_is_tested_once():
    refs = corpus(30)
    systems = {n: corpus(30, seed=s) for s, n in enumerate("abcd")}
    result = paired_tests(systems, refs, tests=("bs",), bootstrap_samples=50)
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"),
                                                           ("b", "d"), ("c", "d")]
    assert set(result["models"]) == set("abcd") and all("p_ar" not in p["bleu"] for p in result["pairs"])
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        paired_tests({"a": refs, "b": refs[:-1]}, refs)


def test_confidence_interval_of_one_system_is_sacrebleus_bootstrap():
    refs, hyps = corpus(), corpus(seed=3)
    ci = confidence_interval(hyps, refs, "chrf", bootstrap_samples=200)
    assert ci["score"] == pytest.approx(corpus_scores(hyps, refs)["chrf"], abs=0.01)
    assert 0 < ci["ci"] < 10 and ci["mean"] - ci["ci"] <= ci["score"] <= ci["mean"] + ci["ci"]


# ---------------------------------------------------------------------------- buckets


def test_bucket_names_and_membership_are_compare_mts():
    assert bucket_names(WORD_CUTOFFS) == ["<1", "1", "2", "3", "4", "[5,10)", "[10,100)", "[100,1000)", ">=1000"]
    assert bucket_names(RAREST_CUTOFFS) == ["<1", "1", "2", "[3,5)", "[5,10)", "[10,100)", ">=100"]
    assert bucket_names(LENGTH_CUTOFFS) == ["<8", "[8,10)", "[10,12)", "[12,14)", "[14,17)", "[17,20)", ">=20"]
    assert [bucket_of(v, RAREST_CUTOFFS) for v in (0, 1, 2, 3, 4, 5, 99, 100, 10**6)] == [0, 1, 2, 3, 3, 4, 5, 6, 6]
    assert [bucket_of(v, LENGTH_CUTOFFS) for v in (7, 8, 9, 10, 19, 20)] == [0, 1, 1, 2, 5, 6]
    assert buckets.rarest_count(["ein", "hund", "."], {"ein": 900, "hund": 4, ".": 5000}) == 4
    assert buckets.rarest_count(["ein", "xylophon"], {"ein": 900}) == 0


def test_sentence_buckets_score_each_bucket_as_a_corpus():
    refs = corpus(6)
    hyps = [r[:3] for r in refs[:3]] + corpus(3, seed=5)
    lengths = [5, 7, 9, 12, 13, 40]                    # buckets <8: 0 1 · [8,10): 2 · [12,14): 3 4 · >=20: 5
    rows = sentence_buckets(hyps, refs, lengths, LENGTH_CUTOFFS, bootstrap_samples=50)
    assert [r["bucket"] for r in rows] == bucket_names(LENGTH_CUTOFFS)
    assert [r["sentences"] for r in rows] == [2, 1, 0, 2, 0, 0, 1]
    for row, index in ((rows[0], [0, 1]), (rows[3], [3, 4]), (rows[6], [5])):
        expected = corpus_scores([hyps[i] for i in index], [refs[i] for i in index])
        assert row["bleu"] == expected["bleu"] and row["chrf"] == expected["chrf"]
    assert rows[2]["bleu"] is None and rows[2]["bleu_ci"] is None          # an empty bucket
    assert rows[6]["bleu_ci"] is None and rows[0]["chrf_ci"] is not None   # one sentence has no interval


def test_word_accuracy_by_frequency_matches_each_output_word_once():
    counts = {"a": 2000, "cat": 3, "sat": 50, "dog": 0, "on": 1000}
    refs = [["a", "cat", "sat"], ["a", "cat", "on"]]
    hyps = [["a", "a", "dog"], ["a", "cat", "cat"]]
    rows = {r["bucket"]: r for r in word_accuracy(hyps, refs, counts)}
    # ">=1000": "a" matched twice (once a sentence), the second "a" of the first sentence unmatched; "on" missed
    assert (rows[">=1000"]["both"], rows[">=1000"]["reference"], rows[">=1000"]["output"]) == (2, 3, 3)
    assert rows[">=1000"]["recall"] == pytest.approx(2 / 3, abs=1e-4) and rows[">=1000"]["f"] == pytest.approx(2 / 3, abs=1e-4)
    # "3": "cat" twice in the references, written twice in the second output, matched once
    assert (rows["3"]["both"], rows["3"]["reference"], rows["3"]["output"]) == (1, 2, 2)
    assert rows["3"]["f"] == pytest.approx(0.5)
    assert (rows["<1"]["both"], rows["<1"]["reference"], rows["<1"]["output"], rows["<1"]["f"]) == (0, 0, 1, 0.0)
    assert (rows["[10,100)"]["reference"], rows["[10,100)"]["recall"]) == (1, 0.0)     # "sat" never written


def test_missing_source_words_are_those_whose_reference_words_the_output_lacks():
    src = ["ein", "hund", "läuft", "schnell", "."]
    ref = ["a", "dog", "is", "running", "."]
    links = {(0, 0), (1, 1), (2, 2), (2, 3), (4, 4), (9, 9)}      # "schnell" unaligned; (9, 9) out of range
    aligned, missing = missing_source_words(src, ref, ["a", "cat", "is", "walking", "."], links)
    assert aligned == [0, 1, 2]                                    # punctuation never counts
    assert missing == [1]                                          # "läuft" kept by "is"
    assert missing_source_words(src, ref, ["a", "cat", "walks", "."], links)[1] == [1, 2]


def test_coverage_against_missing_counts_by_hand():
    coverages = [[0.1, 1.2, 0.3, 1.0], [2.0, 0.2]]
    aligned = [[0, 1, 2], [0, 1]]                      # five aligned words; coverage < 0.5: 0.1, 0.3, 0.2
    missing = [[0, 1], [1]]                            # missed: 0.1 (unattended), 1.2 (attended), 0.2 (unattended)
    r = coverage_against_missing(coverages, aligned, missing, threshold=0.5)
    assert (r["words"], r["unattended"], r["missing"], r["missing_unattended"], r["present_unattended"]) == (5, 3, 3, 2, 1)
    assert r["share_unattended"] == 0.6 and r["share_missing"] == 0.6
    assert r["unattended_if_missing"] == pytest.approx(2 / 3, abs=1e-4) and r["unattended_if_present"] == 0.5
    assert r["missing_if_unattended"] == pytest.approx(2 / 3, abs=1e-4) and r["missing_if_attended"] == 0.5
    assert coverage_against_missing(coverages, aligned, missing, threshold=0.15)["unattended"] == 1
    none = coverage_against_missing(None, aligned, missing)     # a model without attention: only what it missed
    assert none["share_missing"] == 0.6 and none["share_unattended"] is None and none["unattended"] is None


# ---------------------------------------------------------------------------- where two models differ


A_SCORES = [50.0, 10.0, 30.0, 30.0, 0.0]
B_SCORES = [20.0, 40.0, 30.0, 10.0, 5.0]   # a − b: 30, −30, 0, 20, −5
LENGTHS = [5, 12, 9, 20, 7]
RAREST = [0, 4, 150, 1, 0]


def test_ranking_lists_the_largest_differences_first():
    assert rank_differences(A_SCORES, B_SCORES) == [(0, 30.0), (1, -30.0), (3, 20.0), (4, -5.0)]   # ties: test order
    assert rank_differences(A_SCORES, B_SCORES, "a") == [(0, 30.0), (3, 20.0)]
    assert rank_differences(A_SCORES, B_SCORES, "b") == [(1, -30.0), (4, -5.0)]
    assert rank_differences(A_SCORES, B_SCORES, limit=2) == [(0, 30.0), (1, -30.0)]
    assert rank_differences(A_SCORES, A_SCORES) == []                      # a model never differs from itself
    with pytest.raises(ValueError):
        rank_differences(A_SCORES, B_SCORES, "best")


def test_ranking_filters_by_length_and_rarest_word():
    assert rank_differences(A_SCORES, B_SCORES, lengths=LENGTHS, length_range=(6, 15)) == [(1, -30.0), (4, -5.0)]
    assert rank_differences(A_SCORES, B_SCORES, lengths=LENGTHS, length_range=(None, 9)) == [(0, 30.0), (4, -5.0)]
    assert rank_differences(A_SCORES, B_SCORES, lengths=LENGTHS, length_range=(20, None)) == [(3, 20.0)]
    assert rank_differences(A_SCORES, B_SCORES, lengths=LENGTHS, length_range=(7, 12)) == [(1, -30.0), (4, -5.0)]
    # bucket 0: a word never seen in training; bucket 3: the rarest word seen 3-4 times
    assert rank_differences(A_SCORES, B_SCORES, rarest=RAREST, rarest_bucket=0) == [(0, 30.0), (4, -5.0)]
    assert rank_differences(A_SCORES, B_SCORES, rarest=RAREST, rarest_bucket=3) == [(1, -30.0)]
    assert rank_differences(A_SCORES, B_SCORES, "a", LENGTHS, (None, 9), RAREST, 0) == [(0, 30.0)]


# ---------------------------------------------------------------------------- a checkpoint's test outputs


@pytest.fixture(scope="module")
def test_set(data_dir):
    from seq2seq.analysis.outputs import load_test_set

    test = load_test_set("test_2016_flickr", data_dir=data_dir, alignments=False)
    # word alignments by hand: each source word to the reference word at its position
    test.links = [{(j, j) for j in range(min(len(s), len(r)))} for s, r in zip(test.split.src_tokens,
                                                                              test.split.trg_tokens)]
    return test


def test_outputs_hold_every_sentence_as_the_metric_reads_it(checkpoint_root, test_set, tmp_path):
    from seq2seq.analysis.outputs import compute_outputs, outputs_path, read_outputs, write_outputs
    from seq2seq.evaluate import sentence_bleu, sentence_chrf
    from seq2seq.translator import load_checkpoint

    translator = load_checkpoint(checkpoint_root / "luong")
    out = compute_outputs(translator, test_set, beam=2, confidence=False)
    n = len(test_set.split)
    refs = test_set.split.trg_tokens
    hyps = [h.split() for h in out["hypotheses"]]
    [first] = translator.translate([test_set.split.src_text[0]], beam_size=2)
    assert hyps[0] == translator.words(first)
    assert out["sentences"] == n and out["scores"] == corpus_scores(hyps, refs)
    assert out["sentence_bleu"][:5] == [round(sentence_bleu(h, r), 2) for h, r in zip(hyps[:5], refs[:5])]
    assert out["sentence_chrf"][:5] == [round(sentence_chrf(h, r), 2) for h, r in zip(hyps[:5], refs[:5])]
    assert out["source_length"] == [len(s) for s in test_set.split.src_tokens]
    assert out["rarest_count"][0] == min(test_set.src_counts.get(w, 0) for w in test_set.split.src_tokens[0])
    # coverage: one number per source word, summing to the rows of the map (every output word and <eos>)
    cov = out["coverage"][0]
    assert len(cov) == out["source_length"][0]
    assert sum(cov) == pytest.approx(len(first.output_labels), abs=0.01 * len(cov) + 1e-6)
    assert len(out["missing"]) == n and all(set(m) <= set(a) for a, m in zip(out["aligned"], out["missing"]))
    assert [r["sentences"] for r in out["buckets"]["length"]] and sum(r["sentences"] for r in out["buckets"]["rarest"]) == n
    path = outputs_path(tmp_path, "test_2016_flickr", 2)
    assert path.name == "outputs_test_2016_flickr_beam2.json"                   # never the shipped beam-5 file
    write_outputs(path, out)
    assert read_outputs(path) == json.loads(json.dumps(out))


def test_a_model_without_attention_has_no_coverage(checkpoint_root, test_set):
    from seq2seq.analysis.outputs import compute_outputs
    from seq2seq.translator import load_checkpoint

    out = compute_outputs(load_checkpoint(checkpoint_root / "gru"), test_set, beam=1, confidence=False)
    assert out["map"] is None and out["coverage"] is None
    summary = out["coverage_against_missing"]
    assert summary["share_unattended"] is None and summary["share_missing"] is not None


def test_outdated_or_broken_outputs_are_told(checkpoint_root, test_set, tmp_path):
    from seq2seq.analysis.outputs import OutputsError, compute_outputs, current, read_outputs, write_outputs
    from seq2seq.translator import load_checkpoint

    model = tmp_path / "luong"
    shutil.copytree(checkpoint_root / "luong", model)
    out = compute_outputs(load_checkpoint(model), test_set, beam=1, confidence=False)
    assert current(out, model, test_set, beam=1, length_penalty=1.0) is None
    assert "beam" in current(out, model, test_set, beam=5)
    (model / "model.safetensors").write_bytes((model / "model.safetensors").read_bytes() + b" ")
    assert "weights changed" in current(out, model)
    other = test_set.split.limit(50)
    from seq2seq.analysis.outputs import TestSet

    assert "computed on" in current(out, checkpoint_root / "luong", TestSet(other, test_set.src_counts,
                                                                          test_set.trg_counts, None))
    broken = dict(out, sentence_bleu=out["sentence_bleu"][:-1])
    write_outputs(tmp_path / "broken.json", broken)
    with pytest.raises(OutputsError, match="sentence_bleu"):
        read_outputs(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError):
        read_outputs(tmp_path / "none.json")


def test_command_writes_outputs_and_significance_and_reuses_current_files(checkpoint_root, data_dir, tmp_path, capsys):
    from seq2seq import compare

    root = tmp_path / "checkpoints"
    for arch in ("bahdanau", "transformer"):
        shutil.copytree(checkpoint_root / arch, root / arch)
    args = [str(root), "--data-dir", str(data_dir), "--no-alignments", "--bootstrap", "100", "--trials", "200"]
    assert compare.main(args) == 0
    first = capsys.readouterr()
    for arch in ("bahdanau", "transformer"):
        assert json.loads((root / arch / "test_outputs.json").read_text())["beam"] == 5
    sig = json.loads((root / "significance.json").read_text())
    [pair] = sig["pairs"]
    assert {pair["a"], pair["b"]} == {"bahdanau", "transformer"} and sig["sentences"] == 100
    assert "p bs" in first.out and "bahdanau" in first.out
    assert compare.main(args) == 0
    assert first.err.count("reused") == 0 and capsys.readouterr().err.count("is current, reused") == 2


def test_the_shipped_outputs_are_current_and_agree_with_the_metrics():
    """Each shipped checkpoint's test_outputs.json was made from its weights as they are, scores what its
    metrics.json says at beam 5, and checkpoints/significance.json tests those very translations, every pair."""
    from pathlib import Path

    from seq2seq import ARCHITECTURES
    from seq2seq.analysis.outputs import current, outputs_path, read_outputs, significance_path, text_digest
    from seq2seq.checkpoint import read_metrics

    from seq2seq.checkpoint import find_checkpoints

    root = Path(__file__).resolve().parent.parent / "checkpoints"
    if not all((root / a / "model.safetensors").is_file() for a in ARCHITECTURES):
        pytest.skip("the shipped checkpoints are not here")
    names = [p.name for p in find_checkpoints(root)]                 # the six, and the subword Transformer
    sig = json.loads(significance_path(root).read_text())
    n = len(names)
    assert len(sig["pairs"]) == n * (n - 1) // 2 and sig["sentences"] == 1000 and sig["beam"] == 5
    for arch in names:
        out = read_outputs(outputs_path(root / arch))
        assert current(out, root / arch, beam=5, length_penalty=1.0) is None, arch
        assert out["scores"]["bleu"] == pytest.approx(read_metrics(root / arch)["test"]["beam5"]["bleu"], abs=0.01)
        assert out["scores"]["chrf"] == pytest.approx(read_metrics(root / arch)["test"]["beam5"]["chrf"], abs=0.01)
        assert sig["models"][arch]["hypotheses_digest"] == text_digest(out["hypotheses"])
        assert (out["coverage"] is None) == (arch in ("lstm", "gru")) and out["missing"] is not None
