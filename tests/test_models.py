"""The one interface, checked for every architecture: masks, attention, incremental decoding, learning."""

from __future__ import annotations

import pytest
import torch

from seq2seq import ARCHITECTURES, build_model, greedy_search
from seq2seq.data import EOS_IDX, PAD_IDX, SOS_IDX
from seq2seq.models.attention import SCORES

from conftest import tiny_model

ARCHS = list(ARCHITECTURES)


def batch(seed=0, b=3, s=7, t=6, vocab=40):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (b, s), generator=g)
    lens = torch.tensor([s, s - 3, s - 1][:b])
    for i, n in enumerate(lens):
        src[i, n:] = PAD_IDX
    trg = torch.randint(4, vocab, (b, t), generator=g)
    trg[:, 0] = SOS_IDX
    return src, lens, trg


def run_steps(model, src, lens, trg):
    enc = model.encode(src, lens)
    state = model.init_state(enc)
    logits, attns = [], []
    for t in range(trg.size(1)):
        step_logits, state, attn = model.step(trg[:, t], state, enc)
        logits.append(step_logits)
        attns.append(attn)
    return torch.stack(logits, 1), attns, enc


def test_registry_has_the_six_architectures():
    assert set(ARCHS) == {"lstm", "gru", "bahdanau", "luong", "convs2s", "transformer"}
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("rnnsearch", 10, 10)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        build_model("gru", 10, 10, heads=4)


@pytest.mark.parametrize("arch", ARCHS)
def test_shipped_sizes_stay_under_8m_parameters(arch):
    # Multi30k de->en vocabularies at min_freq 2 have 7,851 and 5,892 entries.
    assert build_model(arch, 7851, 5892).num_parameters() <= 8_000_000


# Incremental decoding (step by step = the parallel forward, one position per step, the encoder run
# once, Bahdanau and Luong against hand-unrolled equations) is tested in test_incremental.py.


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_never_changes_a_real_tokens_output(arch):
    model = tiny_model(arch)
    src, lens, trg = batch()
    padded = model(src, lens, trg)[1]
    alone = model(src[1:2, : lens[1]], lens[1:2], trg[1:2])[0]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_future_target_tokens_do_not_change_earlier_logits(arch):
    model = tiny_model(arch)
    src, lens, trg = batch()
    changed = trg.clone()
    changed[:, 4:] = 5
    torch.testing.assert_close(model(src, lens, changed)[:, :4], model(src, lens, trg)[:, :4])


@pytest.mark.parametrize("arch", ARCHS)
def test_attention_rows_are_distributions_over_real_source_tokens(arch):
    model = tiny_model(arch)
    src, lens, trg = batch()
    _, attns, enc = run_steps(model, src, lens, trg)
    if not model.attention_kinds:
        assert all(a == {} for a in attns)  # says so, rather than inventing a matrix
        assert model.cross_attention_grid == (0, 0)
        return
    for attn in attns:
        cross = attn["cross"]                          # [B, layers, heads, S]
        assert cross.shape[0] == 3 and cross.shape[-1] == src.size(1)
        assert tuple(cross.shape[1:3]) == model.cross_attention_grid      # what the page says the mean is over
        for i, n in enumerate(lens.tolist()):
            torch.testing.assert_close(cross[i, ..., :n].sum(-1), torch.ones(cross.shape[1:3]))
            assert (cross[i, ..., n:] == 0).all()
    if "encoder_self" in model.attention_kinds:
        enc_self = enc["encoder_self"]                 # [B, layers, heads, S, S]
        n = lens[1].item()
        torch.testing.assert_close(enc_self[1, :, :, :n, :n].sum(-1), torch.ones(enc_self.shape[1:3] + (n,)))
        assert (enc_self[1, :, :, :, n:] == 0).all()
    if "decoder_self" in model.attention_kinds:
        for t, attn in enumerate(attns):               # step t sees exactly the t+1 inputs so far
            assert attn["decoder_self"].shape[-1] == t + 1
            torch.testing.assert_close(attn["decoder_self"].sum(-1), torch.ones(attn["decoder_self"].shape[:-1]))


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("hard", [False, True])
def test_every_luong_score_function_masks_and_decodes(score, local, hard):
    if score == "ntm" and local:
        with pytest.raises(ValueError, match="ntm"):
            tiny_model("luong", score=score, local=local)
        return
    model = tiny_model("luong", score=score, local=local, window=2, hard=hard)
    src, lens, trg = batch()
    stepped, attns, _ = run_steps(model, src, lens, trg)
    torch.testing.assert_close(stepped, model(src, lens, trg), atol=1e-5, rtol=1e-5)
    for attn in attns:
        w = attn["cross"][:, 0, 0]
        for i, n in enumerate(lens.tolist()):
            torch.testing.assert_close(w[i, :n].sum(), torch.tensor(1.0))
            assert (w[i, n:] == 0).all()
    if local:  # local-p attention only weights a window of 2D+1 positions
        assert all(((a["cross"][:, 0, 0] > 0).sum(-1) <= 5).all() for a in attns)


def test_lstm_source_reversal_is_a_real_option():
    src, lens, trg = batch()
    forward = tiny_model("lstm", reverse_source=False)
    reverse = tiny_model("lstm", reverse_source=True)
    reverse.load_state_dict(forward.state_dict())
    assert not torch.allclose(forward(src, lens, trg), reverse(src, lens, trg))
    flipped = src.clone()
    for i, n in enumerate(lens.tolist()):
        flipped[i, :n] = src[i, :n].flip(0)
    torch.testing.assert_close(forward(flipped, lens, trg), reverse(src, lens, trg))


def test_long_inputs_are_handled_beyond_100_positions():
    for arch in ARCHS:
        model = tiny_model(arch)
        src = torch.randint(4, 40, (1, 60 if arch == "convs2s" else 300))
        hyp = greedy_search(model, [src[0].tolist()], max_len=5)[0]
        assert len(hyp.tokens) == 5 or (hyp.tokens[-1] == EOS_IDX and len(hyp.tokens) < 5), hyp.tokens
        if model.attention_kinds:                 # and the model looked at the whole source
            assert hyp.attention["cross"].shape[-1] == src.size(1)
            assert (hyp.attention["cross"].sum(-1) - 1).abs().max() < 1e-4


def copy_task(n=64, vocab=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(4, vocab, (int(torch.randint(3, 6, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]
    return seqs


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_learns_to_copy(arch):
    """A few hundred steps on a tiny copy task: the model must reproduce its inputs."""
    from seq2seq.data import make_batch

    torch.manual_seed(0)
    sizes = {"lstm": dict(emb_dim=32, hidden_dim=64, layers=1), "gru": dict(emb_dim=32, hidden_dim=64),
             "luong": dict(emb_dim=32, hidden_dim=64, layers=1)}
    model = tiny_model(arch, 14, 14, **sizes.get(arch, {}))
    seqs = copy_task()
    trg = [[SOS_IDX] + s + [EOS_IDX] for s in seqs]
    data = make_batch(seqs, trg, list(range(len(seqs))))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(300):
        logits = model(data.src, data.src_lens, data.trg[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 14), data.trg[:, 1:].reshape(-1), ignore_index=PAD_IDX)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    hyps = greedy_search(model, seqs[:16])
    exact = sum(h.tokens == s + [EOS_IDX] for h, s in zip(hyps, seqs[:16]))
    assert exact >= 14, f"{arch} copied only {exact}/16 (final loss {loss.item():.3f})"
