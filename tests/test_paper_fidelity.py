"""How each model differs from its paper: the declarations beside the models, the About tab's and
docs/paper-fidelity.md's tables made from them, and the presets that train the paper's variant."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seq2seq import ARCHITECTURES, build_model, load_checkpoint, save_checkpoint
from seq2seq.data import PAD_IDX, SOS_IDX
from seq2seq.explorer.text import ABOUT, FIDELITY_MARK, paper_differences_table, paper_fidelity_document, presets_markdown
from seq2seq.models.base import PRESETS, Difference, register_preset, resolve
from seq2seq.models.convs2s import ConvS2SConfig
from seq2seq.models.transformer import TransformerConfig
from seq2seq.papers import DISPLAY_NAMES, PAPER_ORDER

from conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
SIX = ("lstm", "gru", "bahdanau", "luong", "convs2s", "transformer")


@pytest.mark.parametrize("arch", SIX)
def test_every_architecture_declares_how_it_differs_from_its_paper(arch):
    cls = ARCHITECTURES[arch]
    assert cls.paper and cls.paper_title
    rows = cls.paper_differences
    assert len(rows) >= 4 and all(isinstance(r, Difference) for r in rows)
    assert all(r.aspect and r.paper and r.here and r.paper != r.here for r in rows)
    aspects = [r.aspect for r in rows]
    assert len(set(aspects)) == len(aspects) and "training" in aspects and "size" in aspects


def test_the_known_departures_are_declared():
    """The ones a reader of the paper would trip over, each in its model's table."""
    def row(arch, aspect):
        [r] = [r for r in ARCHITECTURES[arch].paper_differences if r.aspect == aspect]
        return r

    context = row("convs2s", "conditional input")
    assert "m·√(1/m)" in context.paper and "convs2s_paper" in context.here
    assert "convs2s_paper" in row("convs2s", "initialisation").here
    assert "post-LN" in row("transformer", "layer norm").paper and "pre-LN" in row("transformer", "layer norm").here
    assert "transformer_postln" in row("transformer", "layer norm").here
    assert "bidirectional" in row("luong", "encoder").here and "unidirectional" in row("luong", "encoder").paper
    assert "backward" in row("bahdanau", "initial state s_0").paper and "both" in row("bahdanau", "initial state s_0").here
    for arch in ("gru", "bahdanau"):
        assert "maxout" in row(arch, "output layer").paper and "no maxout" in row(arch, "output layer").here


def test_each_training_row_states_the_recipe_train_py_runs(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import train

    for arch in SIX:
        [row] = [r for r in ARCHITECTURES[arch].paper_differences if r.aspect == "training"]
        recipe = {**train.DEFAULTS, **train.RECIPES[arch]}
        assert f"gradient norm at most {recipe['clip']:g}," in row.here, arch
        assert f"batches of about {recipe['max_tokens']:,} tokens" in row.here, arch
        assert f"label smoothing {recipe['label_smoothing']:g}," in row.here
        assert recipe["weight_decay"] == 1e-4 and "weight decay 1e-4," in row.here


def test_docs_paper_fidelity_is_generated_from_the_declarations():
    """docs/paper-fidelity.md is exactly what the declarations make (python -m seq2seq.tools.fidelity rewrites it)."""
    text = paper_fidelity_document()
    assert (ROOT / "docs" / "paper-fidelity.md").read_text(encoding="utf-8") == text, \
        "docs/paper-fidelity.md is stale: run python -m seq2seq.tools.fidelity"
    from seq2seq.tools.fidelity import main

    assert main(["--check"]) == 0


def test_the_about_tab_shows_every_table_and_the_presets():
    assert FIDELITY_MARK not in ABOUT
    for arch in SIX:
        cls = ARCHITECTURES[arch]
        assert f"#### {DISPLAY_NAMES[arch]} ({cls.paper}" in ABOUT
        assert paper_differences_table(cls) in ABOUT
    assert presets_markdown() in ABOUT and "python train.py --arch convs2s_paper" in ABOUT
    # the tables sit in "The architectures", in the page's order, before the attention family's table
    starts = [ABOUT.index(f"#### {DISPLAY_NAMES[a]} (") for a in PAPER_ORDER]
    assert starts == sorted(starts)
    assert ABOUT.index("## The architectures") < starts[0] and starts[-1] < ABOUT.index("## The attention family")


def test_a_table_cell_shows_its_text_literally():
    """Declared text with Markdown's characters (s_0, [a; b], a | b) stays in its cell, and each row has 3 cells."""
    class Fake:
        paper_differences = (Difference("a | b", "s_0 = tanh(W [h; c])", "*not* `this`"),)

    table = paper_differences_table(Fake)
    last = table.splitlines()[-1]
    assert len(re.findall(r"(?<!\\)\|", last)) == 4
    assert r"a \| b" in last and r"s\_0 = tanh(W \[h; c\])" in last and r"\*not\* \`this\`" in last
    for arch in SIX:
        for line in paper_differences_table(ARCHITECTURES[arch]).splitlines():
            assert len(re.findall(r"(?<!\\)\|", line)) == 4, line


# ---------------------------------------------------------------------------- presets


def test_the_shipped_defaults_are_not_the_presets():
    """The shipped checkpoints were trained with the Config defaults: a preset changes nothing of them."""
    assert ConvS2SConfig().scale_context is False and ConvS2SConfig().paper_init is False
    assert TransformerConfig().norm_first is True
    assert set(PRESETS) == {"convs2s_paper", "transformer_postln"}
    assert resolve("convs2s_paper") == ("convs2s", {"scale_context": True, "paper_init": True})
    assert resolve("transformer_postln") == ("transformer", {"norm_first": False})
    assert resolve("gru") == ("gru", {})
    with pytest.raises(ValueError, match="unknown architecture"):
        resolve("rnnsearch")


def test_a_preset_is_checked_when_declared():
    with pytest.raises(TypeError):                                    # not a hyper-parameter of the architecture
        register_preset("gru_wide", "gru", "a typo", hidden_dims=1024)
    with pytest.raises(ValueError, match="already names"):
        register_preset("gru", "gru", "an architecture's name")
    with pytest.raises(ValueError, match="already names"):
        register_preset("convs2s_paper", "convs2s", "another preset under a taken name", scale_context=True)
    assert "gru_wide" not in PRESETS and set(PRESETS) == {"convs2s_paper", "transformer_postln"}


def batch(vocab=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (4, 7), generator=g)
    lens = torch.tensor([7, 5, 6, 3])
    for i, n in enumerate(lens):
        src[i, n:] = PAD_IDX
    trg = torch.randint(4, vocab, (4, 6), generator=g)
    trg[:, 0] = SOS_IDX
    return src, lens, trg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_builds_its_variant_trains_and_round_trips(name, vocabs, tmp_path):
    preset = PRESETS[name]
    src_vocab, trg_vocab = vocabs
    torch.manual_seed(0)
    model = build_model(name, len(src_vocab), len(trg_vocab), **TINY[preset.arch])
    assert model.arch == preset.arch and type(model) is ARCHITECTURES[preset.arch]
    default = dataclasses.asdict(ARCHITECTURES[preset.arch].Config(**TINY[preset.arch]))
    assert dataclasses.asdict(model.config) == {**default, **preset.hparams}

    # it trains: a few Adam steps on one batch lower the loss, every parameter gets a gradient
    src, lens, trg = batch(vocab=min(len(src_vocab), len(trg_vocab)))
    gold = torch.roll(trg, -1, dims=1)
    gold[:, -1] = PAD_IDX
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        logits = model(src, lens, trg)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), gold.reshape(-1), ignore_index=PAD_IDX)
        loss.backward()
        if not losses:
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert all(map(lambda x: x == x, losses)) and losses[-1] < losses[0]

    # and round-trips: saved, loaded back as its architecture with the preset's hyper-parameters, the same model
    model.eval()
    save_checkpoint(tmp_path, model, src_vocab, trg_vocab, "de", "en", dtype=torch.float32, int8=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == preset.arch and {k: config["hparams"][k] for k in preset.hparams} == preset.hparams
    loaded = load_checkpoint(tmp_path)
    assert dataclasses.asdict(loaded.model.config) == dataclasses.asdict(model.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(src, lens, trg), model(src, lens, trg))
    from seq2seq import Translator

    in_memory = Translator(model, src_vocab, trg_vocab, {"arch": preset.arch, "src_lang": "de"})
    texts = ["Ein Mann mit einem orangefarbenen Hut starrt auf etwas.", "Zwei Hunde spielen im Schnee."]
    for ours, theirs in zip(loaded.translate(texts, beam_size=2), in_memory.translate(texts, beam_size=2)):
        assert ours.tokens == theirs.tokens and ours.log_prob == pytest.approx(theirs.log_prob, abs=1e-5)


def test_the_transformer_postln_preset_has_no_final_norm_and_norms_after_each_sublayer():
    model = build_model("transformer_postln", 20, 20, **TINY["transformer"])
    assert isinstance(model.encoder_norm, torch.nn.Identity) and isinstance(model.decoder_norm, torch.nn.Identity)
    assert all(not r.norm_first for layer in [*model.encoder_layers, *model.decoder_layers]
               for r in layer.modules() if hasattr(r, "norm_first"))


def test_paper_init_draws_the_papers_distributions():
    """Gehring et al. 2017, section 3.5, at the shipped size: embeddings N(0, 0.1), convolutions (feeding a GLU,
    their input dropped out) N(0, sqrt(4p/n)), other layers N(0, sqrt(p/n)), biases 0."""
    torch.manual_seed(0)
    model = build_model("convs2s_paper", 3000, 3000)
    c, keep = model.config, 1 - model.config.dropout
    std = lambda w: w.detach().float().std().item()  # noqa: E731
    assert std(model.src_embedding.weight[4:]) == pytest.approx(0.1, rel=0.02)
    assert std(model.trg_positions.weight) == pytest.approx(0.1, rel=0.05)
    assert model.src_embedding.weight[PAD_IDX].abs().sum() == 0 and model.trg_embedding.weight[PAD_IDX].abs().sum() == 0
    for conv in [*model.enc_convs, *(b.conv for b in model.dec_blocks)]:
        assert std(conv.weight) == pytest.approx((4 * keep / (c.kernel_size * c.hidden_dim)) ** 0.5, rel=0.02)
        assert conv.bias.abs().sum() == 0
    assert std(model.enc_in.weight) == pytest.approx((keep / c.emb_dim) ** 0.5, rel=0.03)
    for block in model.dec_blocks:
        assert std(block.to_emb.weight) == pytest.approx((1 / c.hidden_dim) ** 0.5, rel=0.03)
        assert std(block.from_emb.weight) == pytest.approx((1 / c.emb_dim) ** 0.5, rel=0.03)
        assert block.to_emb.bias.abs().sum() == 0
    # and without it, PyTorch's defaults as before (uniform, std 1/sqrt(3n)): the shipped model's initialisation
    torch.manual_seed(0)
    plain = build_model("convs2s", 3000, 3000)
    assert std(plain.enc_convs[0].weight) == pytest.approx((1 / (3 * c.kernel_size * c.hidden_dim)) ** 0.5, rel=0.03)


def test_train_py_trains_a_preset_by_name(data_dir, tmp_path, monkeypatch):
    """`python train.py --arch transformer_postln`: its architecture's recipe, the preset's hyper-parameters, a
    checkpoint of that architecture that loads and translates, and metrics.json naming the preset."""
    monkeypatch.syspath_prepend(str(ROOT))
    import train

    for name in PRESETS:
        recipe = train.recipe_for(name, train.parse_args(["--arch", name]))
        assert recipe["lr"] == train.RECIPES[PRESETS[name].arch]["lr"] and recipe["hparams"] == PRESETS[name].hparams
    out = tmp_path / "transformer_postln"
    result = subprocess.run([sys.executable, "train.py", "--arch", "transformer_postln", "--epochs", "1", "--limit", "120",
                             "--val-limit", "10", "--test-beam", "0", "--data-dir", str(data_dir), "--out", str(out),
                             "--set", "d_model=32", "--set", "ff_dim=64", "--set", "encoder_layers=1",
                             "--set", "decoder_layers=1", "--set", "heads=2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "SEQ2SEQ_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["arch"] == "transformer" and config["hparams"]["norm_first"] is False and config["hparams"]["d_model"] == 32
    assert metrics["arch"] == "transformer" and metrics["preset"] == "transformer_postln"
    assert metrics["command"].startswith("python train.py --arch transformer_postln")
    [t] = load_checkpoint(out).translate(["Ein Hund."])
    assert t.src_tokens == ["ein", "hund", "."]
