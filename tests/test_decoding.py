"""Greedy and beam search on random-weight models, <unk> replacement, detokenization and damaged
checkpoints. (Searches against a scripted model: test_scripted_decoding.py; the checkpoint round
trip: test_checkpoint.py.)"""

from __future__ import annotations

import pytest
import torch

from seq2seq import ARCHITECTURES, beam_search, detokenize, forced_decode, greedy_search, load_checkpoint
from seq2seq.checkpoint import CheckpointError
from seq2seq.data import EOS_IDX
from seq2seq.translator import replace_unk

from conftest import tiny_model

ARCHS = list(ARCHITECTURES)
SOURCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19]]


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_size_one_equals_greedy(arch):
    model = tiny_model(arch)
    greedy = greedy_search(model, SOURCES, max_len=12)
    beam = beam_search(model, SOURCES, beam_size=1, max_len=12)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    for g, b in zip(greedy, beam):
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_decoding_equals_one_sentence_at_a_time(arch):
    """With each sentence's own default length limit (1.5 x its length + 10: 17, 13 and 22 words here),
    so the batch shrinks as the shorter ones stop. (The scripted model of test_scripted_decoding.py
    covers sentences that stop at <eos>; these random models never write it.)"""
    model = tiny_model(arch)
    for search in (lambda s: greedy_search(model, s), lambda s: beam_search(model, s, 3)):
        together = search(SOURCES)
        alone = [search([s])[0] for s in SOURCES]
        assert [h.tokens for h in together] == [h.tokens for h in alone]
        for h, a, limit in zip(together, alone, (17, 13, 22)):
            assert h.log_prob == pytest.approx(a.log_prob, abs=1e-4)
            assert len(h.tokens) == len(h.step_log_probs)
            assert len(h.tokens) == limit or (h.tokens[-1] == EOS_IDX and len(h.tokens) < limit)


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_returns_its_best_with_the_nbest_ranked(arch):
    # (beam search beating greedy, and the exact ranking, are tested on a scripted model in
    # test_scripted_decoding.py: these random models never write <eos>)
    model = tiny_model(arch)
    for b in beam_search(model, SOURCES, 5, length_penalty=0.0, max_len=12):
        assert len(b.nbest) == 5 and b.nbest[0].tokens == b.tokens and b.nbest[0].score == b.score
        assert [h.score for h in b.nbest] == sorted((h.score for h in b.nbest), reverse=True)
        assert all(h.score == pytest.approx(h.log_prob) for h in b.nbest)      # length_penalty 0: no division
        assert b.log_prob == pytest.approx(sum(b.step_log_probs), abs=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_search_attention_matches_forced_decoding(arch):
    model = tiny_model(arch)
    hyps = greedy_search(model, SOURCES, max_len=10)
    forced = forced_decode(model, SOURCES, [h.tokens for h in hyps])
    for h, f, src in zip(hyps, forced, SOURCES):
        assert f.log_prob == pytest.approx(h.log_prob, abs=1e-4)
        assert h.attention.keys() == f.attention.keys()
        if model.attention_kinds:
            assert h.attention["cross"].shape[0] == len(h.tokens) and h.attention["cross"].shape[-1] == len(src)
        for k in h.attention:
            torch.testing.assert_close(h.attention[k], f.attention[k], atol=1e-5, rtol=1e-5)


def test_unk_is_replaced_by_the_most_attended_source_word():
    attention = {"cross": torch.tensor([[[[0.1, 0.9]]], [[[0.7, 0.3]]]])}  # [T=2, 1, 1, S=2]
    assert replace_unk(["<unk>", "<unk>"], ["zwei", "hunde"], attention) == ["hunde", "zwei"]
    assert replace_unk(["<unk>"], ["zwei"], {}) == ["<unk>"]  # no attention: left alone


def test_detokenize_for_display():
    assert detokenize(["a", "man", ",", "smiling", ".", ]) == "A man, smiling."
    assert detokenize(["the", "dog", "'s", "ball", "(", "red", ")", "!"]) == "The dog's ball (red)!"
    assert detokenize([]) == ""


def test_translator_handles_empty_unknown_and_long_input(checkpoint_root):
    translator = load_checkpoint(checkpoint_root / "transformer")
    empty, emoji, long = translator.translate(["   ", "🙂 <script>alert(1)</script>", "Hund " * 2000])
    assert empty.text == "" and empty.tokens == []
    assert emoji.src_tokens == ["🙂", "<", "script", ">", "alert(1)</script", ">"]   # unknown words still make a source
    assert emoji.text == detokenize(emoji.tokens) and 1 <= len(emoji.raw_tokens) <= 1.5 * len(emoji.src_tokens) + 10
    assert long.truncated and len(long.src_tokens) == translator.max_source_tokens


def test_corrupt_checkpoints_fail_with_a_clear_error(checkpoint_root, tmp_path):
    import shutil

    bad = tmp_path / "gru"
    shutil.copytree(checkpoint_root / "gru", bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(bad)

    shutil.copy(checkpoint_root / "gru" / "model.safetensors", weights)
    config = (bad / "config.json").read_text().replace('"hidden_dim": 24', '"hidden_dim": 32')
    (bad / "config.json").write_text(config)
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(bad)

    (bad / "src_vocab.json").unlink()
    with pytest.raises(CheckpointError, match="src_vocab.json is missing"):
        load_checkpoint(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(bad)
