"""The logit lens and DecoderLens, checked against what they claim: the last layer's lens is the model's own
prediction; an intermediate layer's is the output layer applied to that layer's output, computed here by
hand from the model's blocks; DecoderLens at the last layer is the ordinary translation, and at layer k is
what the decoder writes when the encoder stops after k layers."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_model
from seq2seq.analysis.lens import decoder_lens, encoder_layers, logit_lens
from seq2seq.data import SOS_IDX, Vocab
from seq2seq.translator import Translator

GERMAN = ["<unk>", "<pad>", "<sos>", "<eos>", *"ein mann mit einem hut sieht etwas".split()]
ENGLISH = ["<unk>", "<pad>", "<sos>", "<eos>", *"a man in an hat looks at something".split()]
TEXT = "ein mann mit einem hut sieht etwas"


def translator(arch: str, **overrides) -> Translator:
    src, trg = Vocab(GERMAN), Vocab(ENGLISH)
    model = tiny_model(arch, len(src), len(trg), **overrides)
    return Translator(model, src, trg, {"arch": arch, "src_lang": "de", "trg_lang": "en"})


@pytest.mark.parametrize("arch", ["transformer", "convs2s"])
def test_the_last_layers_lens_is_the_models_own_prediction(arch):
    t = translator(arch)
    [out] = t.translate([TEXT], max_len=6)
    lens = logit_lens(t, out)
    L = 2
    assert lens.probs.shape == (L, len(out.output_labels)) and lens.layers == L
    written = torch.tensor([math.exp(lp) for lp in out.step_log_probs])
    assert torch.allclose(lens.probs[-1], written, atol=1e-5)            # greedy: the top word at every step
    assert bool(lens.agreement()[-1].all())
    assert torch.allclose(lens.top_probs.sum(-1), lens.top_probs.sum(-1).clamp(max=1.0))


def test_an_intermediate_transformer_layer_is_read_through_the_final_norm_and_output_layer():
    t = translator("transformer")
    [out] = t.translate([TEXT], max_len=5)
    lens = logit_lens(t, out)
    m = t.model
    ids = t.trg_vocab.encode(out.raw_tokens) + ([3] if out.finished else [])
    src = torch.tensor([t.src_vocab.encode(out.src_tokens)])
    trg_in = torch.tensor([[SOS_IDX] + ids[:-1]])
    with torch.no_grad():                                                 # by hand: the first decoder layer only
        enc = m.encode(src, torch.tensor([src.size(1)]))
        x = m.embed(m.trg_embedding, trg_in)
        causal = torch.ones(len(ids), len(ids), dtype=torch.bool).tril()[None, None]
        layer = m.decoder_layers[0]
        x, _, _ = layer(x, layer.self_attn.keys_values, causal, (enc["cross_k"][0], enc["cross_v"][0]),
                        enc["mask"][:, None, None, :])
        logits = m.output(m.decoder_norm(x), m.trg_embedding.weight)[0]
        logits[:, [1, 2]] = float("-inf")
        p = torch.softmax(logits, -1)
    assert torch.allclose(lens.probs[0], p[torch.arange(len(ids)), torch.tensor(ids)], atol=1e-5)
    assert lens.top_words[0][0][0] == t.trg_vocab.itos[int(p[0].argmax())]


def test_models_without_layers_to_read_have_no_lens():
    for arch in ("gru", "bahdanau"):
        t = translator(arch)
        [out] = t.translate([TEXT], max_len=4)
        assert logit_lens(t, out) is None and decoder_lens(t, TEXT, 1) is None and encoder_layers(t) == 0


def test_decoder_lens_at_the_last_layer_is_the_translation_and_earlier_layers_read_less():
    t = translator("transformer", encoder_layers=3)
    assert encoder_layers(t) == 3
    [full] = t.translate([TEXT], max_len=6)
    last = decoder_lens(t, TEXT, 3, max_len=6)
    assert last.raw_tokens == full.raw_tokens and torch.allclose(last.attention["cross"], full.attention["cross"])
    first = decoder_lens(t, TEXT, 1, max_len=6)
    m = t.model
    src = torch.tensor([t.src_vocab.encode(full.src_tokens)])
    with torch.no_grad():                                                 # by hand: one encoder layer, then the norm
        x = m.embed(m.src_embedding, src)
        x, _ = m.encoder_layers[0](x, (src != 1)[:, None, None, :])
        memory = m.encoder_norm(x)
        enc = m.encode(src, torch.tensor([src.size(1)]))
    assert not torch.allclose(memory, enc["memory"])
    with torch.no_grad():
        assert torch.allclose(m.encode_from_layer(src, torch.tensor([src.size(1)]), 1)["memory"], memory, atol=1e-6)
    assert first.attention["cross"].shape[1:] == full.attention["cross"].shape[1:]
    assert "encode" not in vars(m)                                       # the model is left as it was
    with pytest.raises(ValueError):
        decoder_lens(t, TEXT, 4)


def test_inspect_reads_the_layers_and_refuses_models_without_them(ui, models):
    from seq2seq.explorer.service import Inspection

    i = Inspection.run(models, "transformer", TEXT)
    fig = ui.inspector.on_lens(i)
    [heat] = fig.data
    assert list(heat.y) == ["layer 1", "layer 2"] and len(heat.x) == len(i.translation.output_labels)
    assert "what each decoder layer would write" in fig.layout.title.text
    text, fig = ui.inspector.on_decoder_lens(i, 1)
    assert text.startswith("**Encoder layer 1:**") and "reading encoder layer 1" in fig.layout.title.text
    g = Inspection.run(models, "gru", TEXT)
    assert "no stack of decoder layers" in ui.inspector.on_lens(g).layout.annotations[0].text
    text, fig = ui.inspector.on_decoder_lens(g, 1)
    assert text == "" and "no encoder layers" in fig.layout.annotations[0].text
    _, fig = ui.inspector.on_decoder_lens(i, 9)
    assert "encoder layer must be" in fig.layout.annotations[0].text
