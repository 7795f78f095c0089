"""The app's library parts (saliency, figures, examples) and its callbacks, called directly on
tiny random-weight checkpoints (the ``checkpoint_root`` fixture): no server, no browser."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types

import gradio as gr
import pytest
import torch

import app
from conftest import ROOT, tiny_model
from test_unk import shown_text
from seq2seq import ARCHITECTURES, load_checkpoint
from seq2seq.data import read_lines
from seq2seq.explorer.examples import CAPTIONS, DEMO, TEST_EXAMPLES, load_references, normalise_sentence
from seq2seq.analysis import maps
from seq2seq.analysis.maps import View
from seq2seq.explorer.figures import escape, heatmap, overview, row_labels
from seq2seq.explorer import api
from seq2seq.explorer.service import MEAN, ModelSet, RequestError, resolve
from seq2seq.results import LEADERBOARD_COLUMNS, README_COLUMNS, frame, markdown, result_rows

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
SRC_TOKENS = "ein mann mit einem orangefarbenen hut starrt auf etwas .".split()


def translate(ui, text=SENTENCE, names=None, decoding="greedy", beam=5, penalty=1.0, max_len=0):
    return ui.on_translate(text, list(ui.models) if names is None else names, decoding, beam, penalty, max_len)


# ---------------------------------------------------------------------------- saliency


def naive_saliency(model, src_ids, trg_ids):
    """One forward and backward pass per output step: what the batched version must equal. The
    log-probability is decoding's, <pad> and <sos> (ids 1, 2) never being outputs."""
    rows = []
    for t in range(len(trg_ids)):
        seen = []
        handle = model.src_embedding.register_forward_hook(lambda m, i, out: seen.append(out))
        with torch.enable_grad():
            logits = model(torch.tensor([src_ids]), torch.tensor([len(src_ids)]), torch.tensor([[2] + trg_ids[:-1]]))
            lp = torch.log_softmax(logits[0, t].index_fill(0, torch.tensor([1, 2]), float("-inf")), dim=-1)[trg_ids[t]]
            [grad] = torch.autograd.grad(lp, seen[0])
        handle.remove()
        rows.append((grad * seen[0]).norm(dim=-1)[0])
    return torch.stack(rows)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_saliency_is_per_step_gradient_times_input_normalised(arch):
    model = tiny_model(arch, 20, 20, reverse_source=False) if arch == "lstm" else tiny_model(arch, 20, 20)
    src, trg = [4, 5, 6, 7, 5, 9], [4, 8, 9, 3]
    got = maps.source_map("saliency", maps.Forced(model, src, trg))
    assert got.shape == (4, 6)
    assert torch.allclose(got.sum(-1), torch.ones(4), atol=1e-5)
    want = naive_saliency(model, src, trg)
    assert torch.allclose(got, want / want.sum(-1, keepdim=True), atol=1e-5)


def test_saliency_columns_follow_the_source_even_when_the_model_reverses_it():
    reversed_reader = tiny_model("lstm", 20, 20, reverse_source=True)
    forward_reader = tiny_model("lstm", 20, 20, reverse_source=False)
    forward_reader.load_state_dict(reversed_reader.state_dict())  # same function of (reversed) input
    src, trg = [4, 5, 6, 7, 5, 9], [4, 8, 9, 3]
    def saliency(model, src, trg):
        return maps.source_map("saliency", maps.Forced(model, src, trg))

    assert torch.allclose(saliency(reversed_reader, src, trg), saliency(forward_reader, src[::-1], trg).flip(1),
                          atol=1e-5)


def test_translation_saliency_rows_are_the_output_labels(checkpoint_root):
    translator = load_checkpoint(checkpoint_root / "gru")
    [t] = translator.translate([SENTENCE], max_len=5)
    s = maps.source_map("saliency", maps.Forced.of(translator, t))
    assert s.shape == (len(t.output_labels), len(t.src_tokens))


# ---------------------------------------------------------------------------- figures


def test_heatmap_labels_are_escaped_tokens_and_repeats_stay_apart():
    rows, cols = ["a", "<unk>", "a", "<eos>"], ["ein", "<b>x</b>", "&", "ein"]
    fig = heatmap(View("cross", torch.rand(1, 1, 4, 4).softmax(-1), rows, cols, "output", "source"), title="t <eos>")
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert list(x.ticktext) == ["ein", "&lt;b&gt;x&lt;/b&gt;", "&amp;", "ein"] and list(x.tickvals) == [0, 1, 2, 3]
    assert list(y.ticktext) == ["a", "&lt;unk&gt;", "a", "&lt;eos&gt;"]
    assert fig.layout.title.text == "t &lt;eos&gt;"
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)                       # the shared colour scale
    assert list(trace.customdata[3][1]) == ["&lt;eos&gt;", "&lt;b&gt;x&lt;/b&gt;"]
    assert "%{customdata[0]}" in trace.hovertemplate and "%{z" in trace.hovertemplate
    assert escape("<eos>") == "&lt;eos&gt;"


def test_views_of_a_transformer_translation(checkpoint_root):
    translator = load_checkpoint(checkpoint_root / "transformer")
    [t] = translator.translate([SENTENCE], max_len=6)
    forced = maps.Forced.of(translator, t)
    cross, dec, enc = (maps.view(k, forced, t) for k in ("cross", "decoder_self", "encoder_self"))
    T, S = len(t.output_labels), len(t.src_tokens)
    assert cross.weights.shape == (2, 4, T, S) and cross.columns == SRC_TOKENS and cross.rows == t.output_labels
    assert dec.weights.shape == (2, 4, T, T) and dec.columns[0] == "<sos>" and dec.columns[1:] == t.output_labels[:-1]
    assert enc.weights.shape == (2, 4, S, S) and enc.rows == enc.columns == SRC_TOKENS
    assert torch.allclose(cross.select(0, None), t.attention["cross"][:, 0].mean(1))
    assert torch.allclose(cross.select(None, 2), t.attention["cross"][:, :, 2].mean(1))      # mean of the layers
    assert torch.allclose(cross.select(), t.attention["cross"].mean((1, 2)))
    small = overview(cross)
    assert len(small.data) == 8 and small.layout.coloraxis.cmin == 0 and small.layout.coloraxis.cmax == 1
    sal = maps.view("saliency", forced, t)
    assert sal.weights.shape == (1, 1, T, S)


# ---------------------------------------------------------------------------- examples


def test_examples_carry_references_and_lookup_ignores_spacing_and_case(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(tmp_path))  # no data here: the built-in examples only
    refs = load_references()
    assert 10 <= len(TEST_EXAMPLES) <= 50 and len(refs) == len(TEST_EXAMPLES)
    german, english = TEST_EXAMPLES[0]
    assert refs[normalise_sentence("  " + german.upper().replace(" ", "   "))] == english
    assert refs[normalise_sentence(DEMO)] == TEST_EXAMPLES[0][1]        # the page opens with a reference


def test_whole_test_split_is_used_when_the_data_is_there(data_dir, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(data_dir))
    german, english = (read_lines(data_dir / f"test_2016_flickr.{lang}.gz") for lang in ("de", "en"))
    refs = load_references()
    assert len(refs) == len(german) > len(TEST_EXAMPLES)  # every line of the split, not only the built-ins
    assert all(refs[normalise_sentence(g)] == e for g, e in zip(german, english))


# ---------------------------------------------------------------------------- callbacks


def test_loads_every_checkpoint_and_lists_the_broken_ones(checkpoint_root, tmp_path):
    for arch in ("gru", "transformer"):
        shutil.copytree(checkpoint_root / arch, tmp_path / arch)
    shutil.copytree(checkpoint_root / "lstm", tmp_path / "broken")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.safetensors").write_bytes(b"")
    (tmp_path / "notes").mkdir()                            # not a checkpoint at all: ignored
    models = ModelSet(tmp_path, device="cpu")
    assert list(models) == ["gru", "transformer"]
    reasons = dict(models.failures)
    assert set(reasons) == {"broken", "half"}
    assert "corrupt" in reasons["broken"] and "config.json is missing" in reasons["half"]
    demo, ui = app.build_app(models)
    assert set(ui.cards) == {"gru", "transformer"}
    shown = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.elem_id == "load-errors"]
    assert len(shown) == 1 and "broken" in shown[0] and "half" in shown[0]   # the page lists them


def test_hub_spec_goes_through_seq2seq_hub(monkeypatch, checkpoint_root):
    calls = []
    fake = types.ModuleType("seq2seq.tools.hub")
    fake.resolve_checkpoints = lambda spec: calls.append(spec) or checkpoint_root
    monkeypatch.setitem(sys.modules, "seq2seq.tools.hub", fake)
    assert resolve("hf://someone/models") == checkpoint_root and calls == ["hf://someone/models"]
    assert str(resolve("checkpoints")) == "checkpoints" and len(calls) == 1

    def unreachable(spec):
        raise OSError("the Hub cannot be reached")

    fake.resolve_checkpoints = unreachable
    models = ModelSet("hf://someone/models", device="cpu")       # served, empty, saying why
    assert not models.translators and "cannot be reached" in models.failures[0][1]
    app.build_app(models)


def test_one_figure_per_selected_architecture_with_token_axes(ui):
    chosen = ["lstm", "luong", "transformer"]
    out = translate(ui, names=chosen)
    results = out[ui.state]
    assert set(results) == set(chosen)
    for name, card in ui.cards.items():
        assert out[card.state] == (app.SHOWN if name in chosen else app.HIDDEN)
        if name not in chosen:
            continue
        fig, t = out[card.plot], results[name].translation
        assert shown_text(out[card.text]) == t.text
        assert list(fig.layout.xaxis.ticktext) == SRC_TOKENS                       # source across
        assert list(fig.layout.yaxis.ticktext) == row_labels(t.output_labels, t.copied)  # output down, copies marked
        z = torch.tensor(fig.data[0].z)
        assert z.shape == (len(t.output_labels), len(SRC_TOKENS))
        assert torch.allclose(z.sum(-1), torch.ones(len(z)), atol=1e-3)             # rows are distributions
        assert "log-probability" in out[card.stats] and " ms" in out[card.stats]


def test_each_architecture_gets_the_controls_its_attention_has(ui):
    out = translate(ui)
    cards = ui.cards
    assert all(out[c.plot] is not None for c in cards.values())
    for name in ("lstm", "gru"):
        assert "no attention" in out[cards[name].plot].layout.title.text
        assert "saliency" in out[cards[name].plot].layout.title.text
        assert not out[cards[name].layer].visible and not out[cards[name].overview_box].visible
    for name in ("bahdanau", "luong"):  # the one cross-attention
        assert "cross-attention" in out[cards[name].plot].layout.title.text
        assert not out[cards[name].layer].visible and not out[cards[name].head].visible
        assert not out[cards[name].overview_box].visible
    conv = cards["convs2s"]                                       # one map per decoder layer
    assert out[conv.layer].visible and not out[conv.head].visible and out[conv.overview_box].visible
    tf = cards["transformer"]
    assert out[tf.layer].visible and out[tf.head].visible and out[tf.overview_box].visible
    # the small multiples are drawn only when opened (closed, and emptied, by every new translation)
    assert all(out[c.overview] is None and out[c.overview_box].open is False for c in cards.values())
    assert "one head each" in out[conv.overview_box].label and "2 × 4" in out[tf.overview_box].label
    results = out[ui.state]
    assert len(ui.on_overview("convs2s", results, "cross").data) == 2      # 2 layers x 1 head
    assert len(ui.on_overview("transformer", results, "cross").data) == 8  # 2 layers x 4 heads
    assert ui.on_overview("gru", results, "saliency") is None
    assert [c[1] for c in out[tf.kind].choices] == ["cross", "value_weighted", "alti", "encoder_self", "decoder_self",
                                                "saliency", "integrated_gradients", "input_x_gradient"]
    assert [c[1] for c in out[cards["gru"].kind].choices] == ["saliency", "integrated_gradients", "input_x_gradient"]


def test_value_weighted_attention_is_a_map_with_its_layers_and_heads(ui):
    results = translate(ui)[ui.state]
    layer, head, fig, box, _, stats = ui.on_view("transformer", results, "value_weighted", 1, 2)
    assert "value-weighted attention" in fig.layout.title.text
    assert "layer 2 of 2" in fig.layout.title.text and "head 3 of 4" in fig.layout.title.text
    assert layer.value == 1 and head.value == 2 and box.visible
    assert list(fig.layout.xaxis.ticktext) == SRC_TOKENS
    assert "value-weighted" in stats and "diagonality" in stats


def test_changing_map_layer_and_head_redraws_one_card(ui):
    results = translate(ui)[ui.state]
    src = SRC_TOKENS
    layer, head, fig, box, small, stats = ui.on_view("transformer", results, "encoder_self", 0, 1)
    assert list(fig.layout.xaxis.ticktext) == src and list(fig.layout.yaxis.ticktext) == src
    assert "layer 1 of 2" in fig.layout.title.text and "head 2 of 4" in fig.layout.title.text
    assert layer.value == 0 and head.value == 1 and box.visible and not box.open and small is None
    assert "encoder self-attention · layer 1 of 2 · head 2 of 4" in stats and "diagonality" in stats  # the map shown
    layer, head, fig, _, _, stats = ui.on_view("transformer", results, "decoder_self", 7, MEAN)  # no layer 7: the mean
    assert fig.layout.xaxis.ticktext[0] == "&lt;sos&gt;" and "mean of the layers and heads" in fig.layout.title.text
    assert layer.value == MEAN and head.value == MEAN
    # decoder self-attention speaks of query and key words, and names the <sos> column as such
    assert "bits per query word" in stats and "each key word received" in stats and "on &lt;sos&gt;" in stats
    assert "on &lt;eos&gt;" not in stats                  # its keys are <sos> and the words written before
    _, _, fig, box, _, stats = ui.on_view("convs2s", results, "saliency", None, None)
    assert "saliency" in fig.layout.title.text and "no attention" not in fig.layout.title.text
    assert "gradient × input saliency" in stats and "entropy" in stats and not box.visible
    _, _, fig, _, _, stats = ui.on_view("convs2s", {}, "cross", None, None)  # before any translation
    assert fig is None and stats == ""


def test_beam_search_and_length_limit_reach_the_models(ui):
    out = translate(ui, names=["transformer"], decoding="beam", beam=3, max_len=3)
    t = out[ui.state]["transformer"].translation
    assert len(t.tokens) <= 3 and t.nbest


def test_test_sentences_show_their_reference_and_bleu(ui):
    german, english = TEST_EXAMPLES[3]
    out = translate(ui, text=german)
    assert out[ui.reference].visible and out[ui.reference].value == english
    for name, card in ui.cards.items():
        assert "BLEU" in out[card.stats]
        assert out[ui.state][name].bleu is not None
    out = translate(ui, text=CAPTIONS[0])                              # our own caption: no reference
    assert out[ui.reference].visible is not True and "BLEU" not in out[ui.cards["gru"].stats]


@pytest.mark.parametrize("text", ["😀 Ein Hund 🐶 im Schnee", "<script>alert('x')</script> <b>Hallo</b> & <eos>",
                                  "Ein Hund läuft. " * 700])
def test_odd_input_gets_translations_not_errors(ui, text):
    out = translate(ui, text=text, names=["gru", "transformer"])
    assert set(out[ui.state]) == {"gru", "transformer"}
    for name in ("gru", "transformer"):
        fig = out[ui.cards[name].plot]
        assert all("<" not in tick and ">" not in tick for tick in fig.layout.xaxis.ticktext or ())
    if len(text) > 10_000:
        assert "read only the first" in out[ui.status]


@pytest.mark.parametrize("text, names, message", [("", None, "Type a German sentence"),
                                                  ("   ", None, "Type a German sentence"),
                                                  (SENTENCE, [], "Choose at least one")])
def test_nothing_to_translate_gets_a_message_and_clears_the_cards(ui, text, names, message):
    """The cards, reference and download of the sentence before do not stay under the message."""
    before = translate(ui, text=SENTENCE)
    assert before[ui.state] and any(before[c.state] == app.SHOWN for c in ui.cards.values())
    out = translate(ui, text=text, names=names)
    assert message in out[ui.status] and out[ui.state] == {} and out[ui.shown] is None
    assert all(out[c.state] == app.HIDDEN for c in ui.cards.values())
    assert out[ui.reference].visible is not True and out[ui.download].visible is not True
    assert set(out) <= set(ui.all_translate_outputs())


def test_a_failed_translation_clears_the_cards(ui, monkeypatch):
    import app

    translate(ui, text=SENTENCE)
    monkeypatch.setattr(app, "Translating", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("out of memory")))
    out = translate(ui, text=SENTENCE)
    assert out[ui.status] == "**Translation failed:** out of memory" and out[ui.state] == {}
    assert all(out[c.state] == app.HIDDEN for c in ui.cards.values())


def test_translate_json_endpoint_function(models):
    out = api.translate_json(models, SENTENCE, ["gru", "convs2s", "transformer"], beam_size=2)
    json.dumps(out)
    assert set(out["models"]) == {"gru", "convs2s", "transformer"}
    gru, conv, tf = (out["models"][n] for n in ("gru", "convs2s", "transformer"))
    T = len(tf["output_labels"])
    assert tf["src_tokens"] == SRC_TOKENS
    assert torch.tensor(tf["attention"]["cross"]).shape == (T, 2, 4, len(SRC_TOKENS))
    assert torch.tensor(tf["attention"]["decoder_self"]).shape == (T, 2, 4, T)
    assert torch.tensor(tf["attention"]["encoder_self"]).shape == (2, 4, len(SRC_TOKENS), len(SRC_TOKENS))
    assert torch.tensor(conv["attention"]["cross"]).shape[1:] == (2, 1, len(SRC_TOKENS))
    assert gru["attention"] == {} and torch.tensor(gru["saliency"]).shape == (len(gru["output_labels"]), 10)
    with pytest.raises(RequestError, match="Unknown model"):
        api.translate_json(models, SENTENCE, ["nope"])
    with pytest.raises(RequestError, match="Empty input"):
        api.translate_json(models, " ")


def test_one_metrics_table_for_the_leaderboard_and_the_readme(checkpoint_root, tmp_path):
    shutil.copytree(checkpoint_root, tmp_path / "c")
    metrics = json.loads((tmp_path / "c" / "gru" / "metrics.json").read_text())
    metrics["test"] = {"greedy": {"bleu": 30.0, "chrf": 50.0}, "beam5": {"bleu": 31.25, "chrf": 51.5}}
    metrics["train_seconds"] = 3725
    (tmp_path / "c" / "gru" / "metrics.json").write_text(json.dumps(metrics))
    rows = result_rows(tmp_path / "c")
    board = frame(rows, LEADERBOARD_COLUMNS)
    assert len(board["data"]) == len(ARCHITECTURES)
    best = dict(zip(board["headers"], board["data"][0]))            # sorted by beam BLEU, best first
    assert best["model"] == "gru" and best["BLEU beam 5"] == 31.25 and best["BLEU greedy"] == 30.0
    size = (tmp_path / "c" / "gru" / "model.safetensors").stat().st_size
    assert best["chrF beam 5"] == 51.5 and best["size (MB)"] == round(size / 2**20, 1)
    assert best["parameters (M)"] == round(metrics["parameters"] / 1e6, 1)
    readme = markdown(rows, README_COLUMNS).splitlines()
    gru = [c.strip() for c in next(r for r in readme if r.startswith("| `gru`")).strip("|").split("|")]
    assert gru[4:8] == ["30.00", "31.25", "50.00", "51.50"] and gru[9] == "1 h 02 min"


def test_a_missing_or_empty_checkpoints_folder_is_an_error(tmp_path):
    import subprocess
    import sys

    for folder in (tmp_path / "missing", tmp_path):
        result = subprocess.run([sys.executable, "app.py", "--checkpoints", str(folder), "--port", "0"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "holds no checkpoint" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- Translate, one card at a time


def steps_of(ui, names, text=SENTENCE):
    return ui.translation_steps(text, names, "greedy", 5, 1.0, 0)


def test_translate_streams_each_card_as_soon_as_its_model_is_done(ui, monkeypatch):
    """The page draws a card while the next model works: each card is yielded, filled, before the next model
    starts, the cards after it still waiting; every step holds all the updates so far (a step that left one out
    would undo it in a page still behind), the last one the messages, the download and the state."""
    from seq2seq.explorer import service

    started, one = [], service.Translating.one
    monkeypatch.setattr(service.Translating, "one", lambda self, name: started.append(name) or one(self, name))
    assert app.STEP_MODELS == 1                                  # a step per model (two at a time: below)
    names = ["lstm", "gru", "transformer"]
    steps = steps_of(ui, names)
    first = next(steps)
    assert started == []                                       # before any model: the cards asked for wait
    for name, card in ui.cards.items():
        if name in names:                                       # shown or not as before, until its model is done
            assert first[card.state] == app.WAITING
        else:
            assert first[card.state] == app.HIDDEN
        assert card.plot not in first                           # the old map stays, dimmed, until its own is ready
    assert first[ui.shown] is None and first[ui.state] == {}
    assert "0 of 3" in first[ui.status]
    before = first
    for i, name in enumerate(names):
        step = next(steps)
        assert started == names[: i + 1]                         # yielded before the next model started
        assert set(before) <= set(step)                          # nothing set before is left out
        card = ui.cards[name]
        assert {card.state, card.text, card.stats, card.plot, card.map_stats} <= set(step)
        assert step[card.state] == app.SHOWN
        assert list(step[card.plot].layout.xaxis.ticktext) == SRC_TOKENS
        for later in names[i + 1:]:
            assert step[ui.cards[later].state] == app.WAITING and ui.cards[later].plot not in step
        assert list(step[ui.state]) == names[: i + 1]
        if i < len(names) - 1:
            assert f"{i + 1} of 3" in step[ui.status]
        before = step
    last = step                                                  # the last card comes with the end
    assert last[ui.shown]["text"] == SENTENCE and "Translating" not in last[ui.status]
    assert ui.finishing(last[ui.state], last[ui.shown], {})[ui.download].visible is True    # after the last
    assert next(steps, None) is None


@pytest.mark.parametrize("long", [False, True])
def test_translate_steps_carry_values_and_the_menus_are_reset_after(ui, long):
    """Translate is two events: ``translating``'s steps carry values only, for its own outputs only (Gradio redoes
    the update of every output a step leaves out, and the page copies every figure in a panel each time the panel
    is updated), with the menus pending from the first step; then ``finishing`` resets each card's menus and small
    multiples to its default map of the new sentence (too big for small multiples: hidden), shows the reference and
    the download, and makes the menus ready."""
    import gradio as gr
    from seq2seq.explorer.service import MEAN

    text = " ".join([SENTENCE] * 8) if long else SENTENCE
    names = list(ui.models)
    steps = list(ui.translating(text, names, "greedy", 5, 1.0, 0))
    assert all(set(step) <= set(ui.translate_outputs) for step in steps)
    assert not [c for step in steps for c, v in step.items() if isinstance(v, gr.blocks.Block)]
    assert set(steps[-1]) == set(ui.translate_outputs)                      # nothing left out at the end
    assert all(step[ui.menus_state] == app.MENUS_PENDING for step in steps)
    results, shown = steps[-1][ui.state], steps[-1][ui.shown]
    finished = ui.finishing(results, shown, {})
    assert set(finished) == {ui.reference, ui.download, ui.menus_state, ui.menus_set} | {c for n in names
                                                                                         for c in ui.cards[n].menus()}
    assert finished[ui.download].visible is True and finished[ui.menus_state] == app.MENUS_READY
    assert finished[ui.reference].visible is (True if shown["reference"] is not None else "hidden")
    for name in names:                  # the menus the card's default map calls for
        card = ui.cards[name]
        kind = ui.models.kinds(name)[0]
        layer, head, _, box, _, _ = ui.on_view(name, results, kind, None, MEAN)
        for c, update in ((card.layer, layer), (card.head, head), (card.overview_box, box)):
            assert update.constructor_args == finished[c].constructor_args, (name, c)
        assert finished[card.kind].constructor_args["value"] == kind and finished[card.units] == "pieces"
        assert finished[card.overview] is None
    nothing = ui.finishing({}, None, {})                      # an empty request: no reference, no download
    assert nothing[ui.download].visible == nothing[ui.reference].visible == "hidden"      # hidden, kept on the page
    assert nothing[ui.menus_state] == app.MENUS_READY


def test_the_menus_are_sent_again_only_where_they_differ(ui):
    """Translate's reset sends a card's menus only where they differ from what they show as it last set them: for
    the next sentence of the same kind, none; after a person changed a card's map (or opened its small multiples),
    all of that card's; for a sentence too long for a map, the menus it hides."""
    names = list(ui.models)
    menus = {c for n in names for c in ui.cards[n].menus()}

    def finish(text, menus_set):
        *_, last = ui.translating(text, names, "greedy", 5, 1.0, 0)
        return ui.finishing(last[ui.state], last[ui.shown], menus_set)

    first = finish(SENTENCE, {})
    assert menus <= set(first) and set(first[ui.menus_set]) == set(names)
    again = finish("Ein Hund läuft im Schnee.", first[ui.menus_set])
    assert not menus & set(again)                              # nothing to change: nothing sent
    touched = app.changed(again[ui.menus_set], "transformer")
    assert set(touched) == set(names) - {"transformer"} and set(again[ui.menus_set]) == set(names)   # not in place
    after = finish(SENTENCE, touched)
    assert menus & set(after) == set(ui.cards["transformer"].menus())
    long = finish(" ".join([SENTENCE] * 8), after[ui.menus_set])          # some maps too long: their menus hide
    sent = menus & set(long)
    assert sent and all(not long[c].visible for c in sent if isinstance(c, gr.Accordion))


def test_a_change_of_a_cards_map_is_remembered_as_a_change_of_its_menus(built):
    """Each card's map menus and small multiples drop the card from ``UI.menus_set`` (so the next reset sends its
    menus): every event they trigger takes and gives it."""
    demo, ui = built
    for name, card in ui.cards.items():
        for control in (card.kind, card.layer, card.head, card.units, card.overview_box):
            events = [b for b in demo.fns.values() if any(t[0] == control._id for t in b.targets)]
            assert events, (name, control)
            for b in events:
                assert ui.menus_set in b.inputs and ui.menus_set in b.outputs, (name, b.name)


def test_after_the_first_card_the_cards_can_come_two_at_a_time(ui, monkeypatch):
    """With STEP_MODELS 2 the page's steps come after the first model, then after every two more (each before
    the next model starts), the last with the end."""
    from seq2seq.explorer import service

    started, one = [], service.Translating.one
    monkeypatch.setattr(service.Translating, "one", lambda self, name: started.append(name) or one(self, name))
    monkeypatch.setattr(app, "STEP_MODELS", 2)
    names = list(ui.models)
    assert len(names) == 6
    shown = []
    for step in steps_of(ui, names):
        filled = [n for n in names if ui.cards[n].plot in step]
        assert filled == started                                 # every model done is shown, none waits for the next
        shown.append(len(filled))
    assert shown == [0, 1, 3, 5, 6]


def test_translate_sends_what_gradios_postprocessing_would(built):
    """Translate's event skips Gradio's postprocessing (its callback makes each value once): what the page gets at
    every step, an empty request's message too, is what Gradio's own postprocessing of the plain values gives."""
    import asyncio
    import copy

    demo, ui = built
    ours = next(b for b in demo.fns.values() if b.fn == ui.translating)
    assert ours.postprocess is False
    gradios = copy.copy(ours)
    gradios.postprocess = True
    for text in (SENTENCE, ""):
        made = list(ui.translating(text, ["gru", "transformer"], "greedy", 5, 1.0, 0))
        plain = list(ui.translation_steps(text, ["gru", "transformer"], "greedy", 5, 1.0, 0))
        assert len(made) == len(plain) == (3 if text else 1)
        for a, b in zip(made, plain):
            got = asyncio.run(demo.postprocess_data(ours, a, None))
            want = asyncio.run(demo.postprocess_data(gradios, b, None))
            timing = re.compile(r"\d+ ms")                    # the two runs took their own time
            assert timing.sub("", json.dumps(got)) == timing.sub("", json.dumps(want))


def test_the_page_gets_each_figure_written_once(ui, monkeypatch):
    """Translate's callback sends each value as the page takes it (its event skips Gradio's postprocessing, which
    would redo every value at every step): figures as their JSON (PlotData's), written once each, the same object
    at every step."""
    import plotly.graph_objects as go

    written, to_json = [], go.Figure.to_json
    monkeypatch.setattr(go.Figure, "to_json", lambda self, *a, **k: written.append(self) or to_json(self, *a, **k))
    steps = list(ui.translating(SENTENCE, ["gru", "lstm", "transformer"], "greedy", 5, 1.0, 0))
    assert len(written) == 3                                               # not again at every later step
    steps = list(ui.translating(SENTENCE, ["gru", "transformer"], "greedy", 5, 1.0, 0))
    assert len(steps) == 3
    plot = ui.cards["gru"].plot
    assert steps[1][plot]["type"] == "plotly" and steps[1][plot] is steps[2][plot]
    assert json.loads(steps[2][plot]["plot"])["layout"]["xaxis"]["ticktext"] == SRC_TOKENS
    stats = ui.cards["gru"].map_stats
    assert steps[2][stats] == ui.cards["gru"].map_stats.postprocess(steps[2][stats])      # made as Gradio would


def test_no_card_is_left_waiting_or_stale(ui, monkeypatch):
    """After the last update every card is either hidden or filled with the new sentence's map, none waiting; a
    model that fails hides its card (and says so); a failure in the middle clears every card."""
    from seq2seq.explorer import service

    translate(ui, text="Zwei Hunde spielen im Schnee.")                      # cards of another sentence first
    one = service.Translating.one

    def gru_fails(self, name):
        if name == "gru":
            self.messages.append("gru failed: out of memory")
            return None
        return one(self, name)

    monkeypatch.setattr(service.Translating, "one", gru_fails)
    names = ["lstm", "gru", "transformer"]
    out = {}
    for step in steps_of(ui, names):
        out.update(step)
    for name, card in ui.cards.items():
        assert out[card.state] == (app.SHOWN if name in ("lstm", "transformer") else app.HIDDEN)
    for name in ("lstm", "transformer"):
        assert list(out[ui.cards[name].plot].layout.xaxis.ticktext) == SRC_TOKENS
    assert "gru failed: out of memory" in out[ui.status] and set(out[ui.state]) == {"lstm", "transformer"}

    def breaks(self, name):
        if name == "transformer":
            raise RuntimeError("broken")
        return one(self, name)

    monkeypatch.setattr(service.Translating, "one", breaks)
    steps = list(steps_of(ui, names))
    assert len(steps) == 4 and "Translation failed" in steps[-1][ui.status] and steps[-1][ui.state] == {}
    assert all(steps[-1][c.state] == app.HIDDEN for c in ui.cards.values())


def test_an_empty_input_yields_once_and_clears(ui):
    steps = list(steps_of(ui, list(ui.models), text="   "))
    assert len(steps) == 1 and "Type a German sentence" in steps[0][ui.status]
    assert all(steps[0][c.state] == app.HIDDEN for c in ui.cards.values())


def test_translating_one_at_a_time_is_translate_all(models):
    from seq2seq.explorer.service import Translating, translate_all

    names = ["gru", "transformer"]
    results, reference, messages = translate_all(models, SENTENCE, names)
    run = Translating(models, SENTENCE, names)
    assert [name for name, _ in run] == names and run.reference == reference and run.messages == messages
    assert {n: r.translation.text for n, r in run.results.items()} == {n: r.translation.text for n, r in results.items()}


def test_the_opening_and_translate_show_their_progress_on_the_status_line_only(built):
    """Gradio's page keeps a loading status for every component an event shows its progress on, and copies each
    of them again at every message of every later event: the opening's and Translate's ~90 outputs made the page
    copy some 26,000 values a click (docs/benchmarks.md). Their events show progress on the status line alone."""
    demo, ui = built
    fns = [ui.on_open, ui.translating, ui.finishing]
    events = [b for b in demo.fns.values() if b.fn in fns]
    assert {b.fn for b in events} == set(fns)
    for b in events:
        assert [c._id for c in b.show_progress_on] == [ui.status._id], b.name

