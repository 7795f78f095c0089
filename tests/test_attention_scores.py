"""Every attention score of seq2seq/models/attention.py, and the Transformer's scaled dot product,
against its formula computed by hand (explicit loops over positions) on small tensors; and where
the attention RNNs take their query from (Bahdanau: the state before the step; Luong: after)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seq2seq.data import SOS_IDX
from seq2seq.models.attention import Attention
from seq2seq.models.transformer import MultiHeadAttention

from conftest import tiny_model

B, S, D = 2, 5, 4
LENGTHS = [5, 3]                               # row 1 has two padded positions


@pytest.fixture(autouse=True)
def no_grad(request):
    """Hand computations need no gradients (the one test of gradients turns them on)."""
    with torch.set_grad_enabled("gradients" in request.node.name):
        yield


def inputs(seed=0, d_query=D, d_key=D, s=S, lengths=LENGTHS):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(len(lengths), d_query, generator=g)
    keys = torch.randn(len(lengths), s, d_key, generator=g)       # padding keys are not zero: they must
    mask = torch.tensor([[i < n for i in range(s)] for n in lengths])   # still get no weight
    return query, keys, mask


def run(att: Attention, query, keys, mask, previous=None):
    return att(query, keys, att.precompute(keys), mask, previous)


def randomise(module: nn.Module, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return module


def softmax_real(scores: list[float], n: int, width: int) -> torch.Tensor:
    """Softmax over the first n positions, zeros after."""
    top = max(scores[:n])
    e = [math.exp(x - top) for x in scores[:n]]
    return torch.tensor([x / sum(e) for x in e] + [0.0] * (width - n))


def check(att, query, keys, mask, score_fn, previous=None):
    """Compare the module's weights and context with softmax(score_fn(b, i)) over each row's real positions."""
    context, weights = run(att, query, keys, mask, previous)
    for b, n in enumerate(mask.sum(1).tolist()):
        expected = softmax_real([float(score_fn(b, i)) for i in range(n)], n, keys.size(1))
        torch.testing.assert_close(weights[b], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(context[b], (expected[:, None] * keys[b]).sum(0), atol=1e-5, rtol=1e-5)
    return weights


# ---------------------------------------------------------------------------- the scores


def test_dot():
    query, keys, mask = inputs()
    check(Attention("dot", D, D), query, keys, mask, lambda b, i: query[b] @ keys[b, i])


def test_scaled_dot_divides_by_the_square_root_of_the_size():
    query, keys, mask = inputs()
    check(Attention("scaled_dot", D, D), query, keys, mask, lambda b, i: query[b] @ keys[b, i] / math.sqrt(D))


def test_general_uses_its_matrix():
    query, keys, mask = inputs(d_key=3)                  # W_a maps key size 3 to query size 4
    att = randomise(Attention("general", D, 3))
    W = att.W_a.weight                                   # [query, key]
    weights = check(att, query, keys, mask, lambda b, i: query[b] @ (W @ keys[b, i]))
    # and the matrix matters: another W_a gives other weights
    with torch.no_grad():
        att.W_a.weight.copy_(torch.eye(D, 3))
    assert not torch.allclose(run(att, query, keys, mask)[1], weights, atol=1e-3)


def test_concat():
    query, keys, mask = inputs(d_key=3)
    att = randomise(Attention("concat", D, 3, attention_dim=6))
    Wq, bq, Wk, v = att.W_q.weight, att.W_q.bias, att.W_k.weight, att.v_a.weight[0]
    check(att, query, keys, mask, lambda b, i: v @ torch.tanh(Wq @ query[b] + bq + Wk @ keys[b, i]))


def test_cosine_is_scaled_by_beta():
    query, keys, mask = inputs()
    att = Attention("cosine", D, D)
    assert att.log_beta.exp().item() == pytest.approx(10.0)          # beta starts at 10

    def cos(b, i):
        return (query[b] @ keys[b, i]) / (query[b].norm() * keys[b, i].norm())

    check(att, query, keys, mask, lambda b, i: 10.0 * cos(b, i))
    with torch.no_grad():
        att.log_beta.fill_(math.log(3.0))
    check(att, query, keys, mask, lambda b, i: 3.0 * cos(b, i))


def test_location_depends_on_the_query_and_position_only():
    query, keys, mask = inputs()
    att = randomise(Attention("location", D, D, max_positions=7))
    W, bias = att.W_a.weight, att.W_a.bias                           # [7, D]: one row per source position
    check(att, query, keys, mask, lambda b, i: W[i] @ query[b] + bias[i])
    _, w1 = run(att, query, keys, mask)
    _, w2 = run(att, query, torch.randn_like(keys), mask)            # other keys, same weights
    torch.testing.assert_close(w1, w2)


# ---------------------------------------------------------------------------- local-p


def local_p_centre(att, query_row, n):
    hidden = torch.tanh(att.W_p.weight @ query_row + att.W_p.bias)
    return (n - 1) / (1 + math.exp(-float(att.v_p.weight[0] @ hidden)))


def test_local_p_is_a_gaussian_window_around_the_predicted_position():
    window = 2
    query, keys, mask = inputs(s=9, lengths=[9, 6])
    att = randomise(Attention("dot", D, D, local=True, window=window), seed=3)
    sigma = window / 2
    _, weights = run(att, query, keys, mask)
    for b, n in enumerate([9, 6]):
        p = local_p_centre(att, query[b], n)                       # (S - 1) * sigmoid(v_p^T tanh(W_p s)), S real
        inside = [i for i in range(n) if abs(i - p) <= window]
        scores = {i: float(query[b] @ keys[b, i]) - (i - p) ** 2 / (2 * sigma ** 2) for i in inside}
        top = max(scores.values())
        total = sum(math.exp(x - top) for x in scores.values())
        expected = torch.tensor([math.exp(scores[i] - top) / total if i in scores else 0.0 for i in range(9)])
        torch.testing.assert_close(weights[b], expected, atol=1e-5, rtol=1e-5)


def test_local_p_window_edges():
    """p = 3.4 with D = 2: exactly positions 2..5 (|i - p| <= 2) have weight, from a Gaussian of sigma 1."""
    window, n = 2, 8
    att = Attention("dot", D, D, local=True, window=window, attention_dim=D)
    x = 3.4 / (n - 1)
    with torch.no_grad():                                           # v_p^T tanh(W_p s) = logit(3.4 / 7)
        att.W_p.weight.zero_()
        att.W_p.bias.zero_()
        att.W_p.bias[0] = math.atanh(0.5)
        att.v_p.weight.zero_()
        att.v_p.weight[0, 0] = 2 * math.log(x / (1 - x))
    keys = torch.zeros(1, n, D)                                     # all dot scores 0: weights = the Gaussian
    _, weights = run(att, torch.randn(1, D), keys, torch.ones(1, n, dtype=torch.bool))
    gauss = [math.exp(-(i - 3.4) ** 2 / 2) for i in (2, 3, 4, 5)]
    expected = [0.0, 0.0] + [g / sum(gauss) for g in gauss] + [0.0, 0.0]
    torch.testing.assert_close(weights[0], torch.tensor(expected), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------- NTM addressing


def ntm(bias: list[float]) -> Attention:
    """NTM attention whose addressing parameters are ``bias`` whatever the query:
    [beta (pre-softplus), g (logit), shift logits for -1, 0, +1, gamma - 1 (pre-softplus)]."""
    att = randomise(Attention("ntm", D, D), seed=2)
    with torch.no_grad():
        att.W_addr.weight.zero_()
        att.W_addr.bias.copy_(torch.tensor(bias))
    return att


def softplus_inverse(y: float) -> float:
    return math.log(math.expm1(y))


BIG = 30.0   # a logit that makes a softmax or sigmoid one-hot in float32


def one_hot(i, n=S):
    return torch.nn.functional.one_hot(torch.tensor(i), n).float()


def test_ntm_shift_moves_the_previous_weights_and_clips_at_the_ends():
    query, keys, mask = inputs()
    keep_previous = [0.0, -BIG]                                     # g = 0: w^g = previous
    gamma_one = [-BIG]                                              # gamma = 1 + softplus(-30) = 1
    plus_one = ntm(keep_previous + [-BIG, -BIG, BIG] + gamma_one)
    minus_one = ntm(keep_previous + [BIG, -BIG, -BIG] + gamma_one)
    previous = torch.stack([one_hot(1), one_hot(1)])
    torch.testing.assert_close(run(plus_one, query, keys, mask, previous)[1], torch.stack([one_hot(2), one_hot(2)]))
    torch.testing.assert_close(run(minus_one, query, keys, mask, previous)[1], torch.stack([one_hot(0), one_hot(0)]))
    # Half the weight on each end of the sentence, shifted +1: the half at the last real word falls
    # off (not wrapped round to the first, not onto padding), so all that is left is on word 1.
    previous = torch.stack([(one_hot(0) + one_hot(4)) / 2, (one_hot(0) + one_hot(2)) / 2])
    _, w = run(plus_one, query, keys, mask, previous)
    torch.testing.assert_close(w, torch.stack([one_hot(1), one_hot(1)]), atol=1e-5, rtol=0)
    # and -1 from the first word falls off the start
    _, w = run(minus_one, query, keys, mask, previous)
    torch.testing.assert_close(w, torch.stack([one_hot(3), one_hot(1)]), atol=1e-5, rtol=0)


def test_ntm_sharpening_raises_to_gamma():
    query, keys, mask = inputs()
    # g = 1 (content only), no shift, beta = 2, gamma = 3: w = w_c^3 / sum w_c^3
    att = ntm([softplus_inverse(2.0), BIG, -BIG, BIG, -BIG, softplus_inverse(2.0)])
    _, w = run(att, query, keys, mask, torch.stack([one_hot(0), one_hot(0)]))
    key = nn.functional.normalize(att.W_k(query), dim=-1)
    for b, n in enumerate(LENGTHS):
        content = softmax_real([2.0 * float(key[b] @ keys[b, i] / keys[b, i].norm()) for i in range(n)], n, S)
        torch.testing.assert_close(w[b], content ** 3 / (content ** 3).sum(), atol=1e-5, rtol=1e-5)


def test_ntm_interpolates_with_the_previous_weights():
    query, keys, mask = inputs()
    # g = sigmoid(ln(1/3)) = 1/4, no shift, gamma 1, beta = 1
    att = ntm([softplus_inverse(1.0), math.log(1 / 3), -BIG, BIG, -BIG, -BIG])
    previous = torch.stack([one_hot(3), one_hot(2)])
    _, w = run(att, query, keys, mask, previous)
    key = nn.functional.normalize(att.W_k(query), dim=-1)
    for b, n in enumerate(LENGTHS):
        content = softmax_real([float(key[b] @ keys[b, i] / keys[b, i].norm()) for i in range(n)], n, S)
        torch.testing.assert_close(w[b], 0.25 * content + 0.75 * previous[b], atol=1e-5, rtol=1e-5)


def test_ntm_all_four_stages_on_random_parameters():
    query, keys, mask = inputs(seed=4)
    att = randomise(Attention("ntm", D, D), seed=5)
    g = torch.Generator().manual_seed(6)
    previous = torch.rand(B, S, generator=g) * mask
    previous = previous / previous.sum(1, keepdim=True)
    _, w = run(att, query, keys, mask, previous)
    for b, n in enumerate(LENGTHS):
        a = att.W_addr.weight @ query[b] + att.W_addr.bias
        beta, gate = math.log1p(math.exp(a[0])), 1 / (1 + math.exp(-a[1]))
        shift = torch.softmax(a[2:5], 0).tolist()                  # for -1, 0, +1
        gamma = 1 + math.log1p(math.exp(a[5]))
        k = att.W_k.weight @ query[b] + att.W_k.bias
        cos = [float(k @ keys[b, i] / (k.norm() * keys[b, i].norm())) for i in range(n)]
        content = softmax_real([beta * c for c in cos], n, n).tolist()
        gated = [gate * content[i] + (1 - gate) * float(previous[b, i]) for i in range(n)]
        shifted = []
        for i in range(n):                                         # w~(i) = sum_j w^g(j) s(i - j)
            total = 0.0
            for j in range(n):
                if abs(i - j) <= 1:
                    total += gated[j] * shift[(i - j) + 1]
            shifted.append(total)
        sharp = [x ** gamma for x in shifted]
        expected = torch.tensor([x / sum(sharp) for x in sharp] + [0.0] * (S - n))
        torch.testing.assert_close(w[b], expected, atol=1e-5, rtol=1e-5)
        assert gamma >= 1


def test_luong_ntm_feeds_each_steps_weights_to_the_next():
    model = tiny_model("luong", score="ntm", layers=1)
    src = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 1]])
    lens = torch.tensor([4, 3])
    seen = []
    handle = model.attention.register_forward_hook(lambda m, args, out: seen.append((args[4], out[1])))
    enc = model.encode(src, lens)
    state = model.init_state(enc)
    for t in range(4):
        _, state, attn = model.step(torch.tensor([SOS_IDX if t == 0 else 5 + t] * 2), state, enc)
        torch.testing.assert_close(attn["cross"][:, 0, 0], seen[-1][1])
    handle.remove()
    torch.testing.assert_close(seen[0][0], torch.stack([one_hot(0, 4), one_hot(0, 4)]))   # w_0 on the first word
    for (previous, _), (_, last) in zip(seen[1:], seen[:-1]):
        torch.testing.assert_close(previous, last)


# ---------------------------------------------------------------------------- hard attention


def test_hard_attention_at_test_time_is_the_argmax_one_hot():
    query, keys, mask = inputs(seed=7)
    att = randomise(Attention("general", D, D, hard=True)).eval()
    with torch.no_grad():       # the padded keys of row 1 score far above its real ones: never chosen
        keys[1, 3:] = 50 * att.W_a.weight.T @ query[1] / (att.W_a.weight.T @ query[1]).norm() ** 2
    context, w = run(att, query, keys, mask)
    for b, n in enumerate(LENGTHS):
        scores = [float(query[b] @ (att.W_a.weight @ keys[b, i])) for i in range(n)]
        best = max(range(n), key=lambda i: scores[i])
        torch.testing.assert_close(w[b], one_hot(best))
        torch.testing.assert_close(context[b], keys[b, best])


def test_hard_attention_in_training_samples_one_position_and_passes_gradients():
    torch.manual_seed(0)
    att = randomise(Attention("dot", D, D, hard=True, tau=0.5)).train()
    query, keys, mask = inputs(seed=8)
    query.requires_grad_(True)
    _, w = run(att, query, keys, mask)
    assert ((w == 0) | (w == 1)).all() and (w.sum(1) == 1).all() and (w[1, 3:] == 0).all()
    (w * torch.arange(S, dtype=torch.float32)).sum().backward()     # straight through: the soft sample's gradient
    assert query.grad is not None and query.grad.abs().sum() > 0


def test_hard_attention_samples_follow_the_softmax_of_the_scores():
    """Gumbel-max: argmax(score + Gumbel noise) is drawn from softmax(score), whatever tau."""
    torch.manual_seed(0)
    att = Attention("dot", 3, 3, hard=True, tau=2.0).train()
    keys = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]]).repeat(4000, 1, 1)
    query = torch.tensor([[1.0, 0.0, -1.0]]).repeat(4000, 1)
    mask = torch.tensor([[True, True, True, False]]).repeat(4000, 1)
    with torch.no_grad():
        _, w = run(att, query, keys, mask)
    freq = w.mean(0)
    expected = torch.softmax(torch.tensor([1.0, 0.0, -1.0]), 0)     # .665 .245 .090
    torch.testing.assert_close(freq[:3], expected, atol=0.03, rtol=0)
    assert freq[3] == 0


def test_hard_ntm_at_test_time_is_the_argmax_of_the_ntm_weights():
    query, keys, mask = inputs(seed=9)
    soft = randomise(Attention("ntm", D, D), seed=10).eval()
    hard = Attention("ntm", D, D, hard=True).eval()
    hard.load_state_dict(soft.state_dict())
    previous = torch.stack([one_hot(0), one_hot(0)])
    _, w_soft = run(soft, query, keys, mask, previous)
    _, w_hard = run(hard, query, keys, mask, previous)
    torch.testing.assert_close(w_hard, nn.functional.one_hot(w_soft.argmax(1), S).float())


# ---------------------------------------------------------------------------- the Transformer


def test_transformer_attention_is_softmax_of_qk_over_sqrt_dk():
    torch.manual_seed(0)
    d_model, heads = 8, 2
    d_k = d_model // heads
    mha = randomise(MultiHeadAttention(d_model, heads, dropout=0.0)).eval()
    query, memory = torch.randn(2, 3, d_model), torch.randn(2, 4, d_model)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])[:, None, None, :]
    out, weights = mha.attend(query, *mha.keys_values(memory), mask)

    def lin(layer, x):
        return x @ layer.weight.T + layer.bias

    q, k, v = lin(mha.q_proj, query), lin(mha.k_proj, memory), lin(mha.v_proj, memory)
    heads_out = torch.zeros(2, 3, d_model)
    for b, n in enumerate([4, 2]):
        for h in range(heads):
            cols = slice(h * d_k, (h + 1) * d_k)
            for i in range(3):
                scores = [float(q[b, i, cols] @ k[b, j, cols]) / math.sqrt(d_k) for j in range(n)]
                expected = softmax_real(scores, n, 4)
                torch.testing.assert_close(weights[b, h, i], expected, atol=1e-5, rtol=1e-5)
                heads_out[b, i, cols] = (expected[:, None] * v[b, :, cols]).sum(0)
    torch.testing.assert_close(out, lin(mha.out_proj, heads_out), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------- where the query comes from


def peaked(arch):
    """A tiny model with N(0, 1) weights: its attention is far from uniform, so changes show."""
    return randomise(tiny_model(arch), seed=11)


def first_steps(model, prev0: int, prev1: int = 5):
    src, lens = torch.tensor([[5, 6, 7, 8, 9]]), torch.tensor([5])
    enc = model.encode(src, lens)
    logits0, state, attn0 = model.step(torch.tensor([prev0]), model.init_state(enc), enc)
    _, _, attn1 = model.step(torch.tensor([prev1]), state, enc)
    return logits0, attn0["cross"], attn1["cross"]


def test_bahdanau_scores_with_the_state_before_the_step():
    """e_ti = v^T tanh(W s_{t-1} + U h_i): the first step's weights come from s_0 alone (whatever word
    is fed), and the next step's change with the state the first step left."""
    model = peaked("bahdanau")
    logits_a, step0_a, step1_a = first_steps(model, prev0=6)
    logits_b, step0_b, step1_b = first_steps(model, prev0=7)
    assert not torch.allclose(logits_a, logits_b)                  # the word fed does reach the state...
    torch.testing.assert_close(step0_a, step0_b)                   # ...but not the weights of its own step
    assert (step1_a - step1_b).abs().max() > 1e-2                  # the changed s_1 moves the next weights


def test_luong_scores_with_the_state_after_the_step():
    model = peaked("luong")
    _, step0_a, _ = first_steps(model, prev0=6)
    _, step0_b, _ = first_steps(model, prev0=7)
    assert (step0_a - step0_b).abs().max() > 1e-2                  # s_t already holds the word fed


def test_ntm_sharpening_survives_a_focus_shifted_past_the_last_word():
    """A closed gate, the previous focus on the last word and a strong +1 shift leave almost no weight
    inside the sentence; raised to a large gamma it underflowed to 0 / 0 (NaN) before sharpening
    moved to log space."""
    att = Attention("ntm", 4, 4)
    with torch.no_grad():
        att.W_addr.weight.zero_()
        att.W_addr.bias.copy_(torch.tensor([0.0, -12.0, -12.0, -12.0, 12.0, 9.0]))   # beta, g, shifts -1 0 +1, gamma
    keys, mask = torch.randn(1, 5, 4), torch.ones(1, 5, dtype=torch.bool)
    previous = torch.zeros(1, 5)
    previous[0, 4] = 1.0
    context, weights = att(torch.randn(1, 4), keys, att.precompute(keys), mask, previous)
    assert torch.isfinite(weights).all() and torch.isfinite(context).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(1))
