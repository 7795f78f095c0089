"""The Inspect and Compare tabs' callbacks and the JSON downloads, called directly on tiny
random-weight checkpoints (no server, no browser; ``test_browser_views.py`` drives the page)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch

import app
import gradio as gr
from seq2seq import ARCHITECTURES, load_checkpoint
from seq2seq.analysis import inspection
from seq2seq.explorer.examples import TEST_EXAMPLES
from seq2seq.explorer.figures import escape, row_labels
from seq2seq.explorer.text import marked_text
from seq2seq.analysis.probes import record_probes
from seq2seq.explorer import api
from seq2seq.explorer.service import MAX_FORCED_WORDS, ModelSet, RequestError

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


def inspect(ui, arch="transformer", text=SENTENCE, beam=3, penalty=1.0):
    return ui.inspector.on_inspect(text, arch, beam, penalty, 0)


def inspection_download(ui, out) -> dict:
    """What the Inspect tab's download button gives for this answer: shown, its JSON written when pressed."""
    assert out[ui.inspector.download].visible
    return json.loads(Path(ui.inspector.on_download(out[ui.inspector.state])).read_text(encoding="utf-8"))


def test_before_the_first_inspection_every_figure_says_what_will_fill_it(ui):
    i = ui.inspector
    for plot in (i.steps, i.whatif, i.free, i.forced, i.tree, i.sp_plot, i.ct_plot, i.epochs):
        assert "Press Inspect" in json.dumps(plot.value), plot.elem_id           # not an empty frame


def test_the_tab_opens_inspected_on_its_example_once(ui):
    """Shown for the first time, the tab decodes the sentence in its box (the example) with the model chosen, as
    Compare and Family open computed; after an inspection, or a sentence handed over with a note, it waits."""
    i = ui.inspector
    text, name = i.text.value, i.name.value
    assert text == TEST_EXAMPLES[0][0] and name == "transformer"          # the last of the papers' models
    assert (i.c_a.value, i.c_b.value) == ("bahdanau", "transformer")     # Compare opens on attention 2015 against 2017
    out = i.on_inspect_opened(None, "", text, name, 5, 1.0, 0)
    assert set(out) == set(i.inspect_out) and out[i.state].text == text and out[i.state].name == name
    assert out[i.reference] == TEST_EXAMPLES[0][1]                       # a test sentence: its reference is forced
    assert "Press Inspect" not in json.dumps(out[i.steps].to_plotly_json()["data"])
    assert i.on_inspect_opened(out[i.state], out[i.status], text, name, 5, 1.0, 0) == gr.skip()
    assert i.on_inspect_opened(None, "Test sentence 3, opened from the Compare tab's list", SENTENCE, "gru", 5, 1.0, 0) == gr.skip()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_inspect_fills_every_view(ui, models, arch):
    i = ui.inspector
    out = inspect(ui, arch)
    state = out[i.state]
    t = state.translation
    assert state.name == arch and marked_text(t) in out[i.status] or "(empty)" in out[i.status]
    steps = out[i.steps]
    assert len(steps.layout.sliders[0].steps) == len(t.output_labels)
    assert "diagonality" in out[i.steps_stats] and "coverage" in out[i.steps_stats]
    assert out[i.prefix] == " ".join(t.raw_tokens)
    assert [c[1] for c in out[i.at].choices] == list(range(len(t.output_labels)))
    assert list(out[i.free].layout.yaxis.ticktext) == row_labels(t.output_labels, t.copied)
    assert len(out[i.nbest].value["data"]) == len(state.beam["translation"].nbest) >= 1
    epochs = out[i.epochs].layout.annotations[0].text.replace("<br>", " ")       # a message, in lines for a phone
    assert out[i.tree].data and "no probes.json" in epochs                        # the fixture has none
    kind = "cross" if models.translators[arch].has_attention else "saliency"
    data = inspection_download(ui, out)
    assert data["translation"]["map"] == kind and data["beam"]["beam_size"] == 3 and data["forced"] is None
    assert len(data["steps"]) == len(t.output_labels) and data["steps"][0]["top"][0][0] == state.steps.written[0]
    # each map is named for what it is: a mean only over the layers and heads this model has
    what = {"transformer": "cross-attention (mean of layers and heads)", "convs2s": "cross-attention (mean of layers)",
            "bahdanau": "cross-attention", "luong": "cross-attention"}.get(arch, "gradient × input saliency")
    assert out[i.free].layout.title.text.replace("<br>", " ").startswith(f"{arch}: {what} · free-running")
    assert f"The numbers behind this map ({what})" in out[i.free_stats]      # the folded numbers say which map
    assert state.steps.name == what



def test_what_if_typed_or_picked(ui, models):
    i = ui.inspector
    state = inspect(ui, "luong")[i.state]
    out = i.on_continue(state, "Two dogs")
    assert list(out[i.whatif].layout.yaxis.ticktext)[:2] == ["two", "dogs"]
    assert "the first 2 word(s) forced" in out[i.whatif].layout.title.text and "Two dogs" in out[i.whatif_text]
    assert out[i.whatif].layout.shapes[0].y0 == 1.5                            # the line under the forced words
    assert inspection_download(ui, out)["what_if"]["prefix"] == ["two", "dogs"]
    words = i.on_step(state, 1)
    assert [c[1] for c in words.choices] == state.steps.top_words[1]
    word = state.steps.top_words[1][2]
    out = i.on_pick(state, 1, word)
    assert out[i.prefix] == f"{state.steps.written[0]} {word}"
    assert state.what_if["translation"].raw_tokens[:2] == [state.steps.written[0], word] or word == "<eos>"
    assert "zebra" in i.on_continue(state, "a zebra")[i.whatif_text]            # not in the vocabulary: said so
    assert "Type the start" in i.on_continue(state, "  ")[i.whatif_text]
    assert "Press Inspect first" in i.on_continue(None, "a")[i.whatif_text]


def test_a_test_sentence_is_forced_along_its_reference(ui):
    i = ui.inspector
    german, english = TEST_EXAMPLES[0]
    out = inspect(ui, "bahdanau", text=german)
    assert out[i.reference] == english
    tokens = inspection.target_tokens(ui.models.translators["bahdanau"], english)
    assert list(out[i.forced].layout.yaxis.ticktext) == [escape(w) for w in tokens + ["<eos>"]]
    assert "teacher-forced" in out[i.forced].layout.title.text
    unknown = inspection.unknown_words(ui.models.translators["bahdanau"], tokens)
    assert unknown and f"read as &lt;unk&gt;: {', '.join(unknown)}" in out[i.forced_stats]
    out = i.on_force(out[i.state], "A dog .")
    assert list(out[i.forced].layout.yaxis.ticktext) == ["a", "dog", ".", "&lt;eos&gt;"]
    assert inspection_download(ui, out)["forced"]["output_labels"] == ["a", "dog", ".", "<eos>"]


def test_beam_size_changes_the_tree(ui):
    i = ui.inspector
    state = inspect(ui, "gru")[i.state]
    out = i.on_beam(state, 1, 1.0)
    assert len(out[i.nbest].value["data"]) == 1 and "beam size 1" in out[i.tree].layout.title.text
    assert i.on_beam(None, 3, 1.0) == gr.skip()


def test_alignment_over_epochs_reads_probes_json(checkpoint_root, tmp_path):
    import shutil

    for arch in ("transformer", "lstm"):
        shutil.copytree(checkpoint_root / arch, tmp_path / arch)
        translator = load_checkpoint(tmp_path / arch)
        for epoch in (1, 2):
            record_probes(tmp_path / arch / "probes.json", translator, epoch)
    _, ui = app.build_app(ModelSet(tmp_path, device="cpu"))
    fig = ui.inspector.on_probe("transformer", 2)
    assert [s.label for s in fig.layout.sliders[0].steps] == ["1", "2"] and "Eine Frau" in fig.layout.title.text
    assert ui.inspector.on_probe("lstm", 0).data[0].type == "table"
    (tmp_path / "lstm" / "probes.json").write_text("{broken")
    assert "could not be read" in ui.inspector.on_probe("lstm", 0).layout.annotations[0].text.replace("<br>", " ")


def test_compare_two_models_along_one_output(ui, monkeypatch):
    i = ui.inspector
    written = []
    write = api.download_file
    monkeypatch.setattr(api, "download_file", lambda data, stem: written.append(stem) or write(data, stem))
    out = i.on_compare(SENTENCE, "transformer", "lstm", "a")
    assert written == [] and out[i.c_download].visible                 # the JSON is written only when pressed
    [t] = ui.models.translators["transformer"].translate([SENTENCE])
    rows = [escape(w) for w in t.raw_tokens + ["<eos>"]]
    for plot in (i.c_plot_a, i.c_plot_b, i.c_diff):
        assert list(out[plot].layout.yaxis.ticktext) == rows
    assert "saliency" in out[i.c_plot_b].layout.title.text and "Similarity" in out[i.c_status]
    z = torch.tensor(out[i.c_diff].data[0].z)
    top = z.abs().max().item()
    assert (out[i.c_diff].data[0].zmin, out[i.c_diff].data[0].zmax) == pytest.approx((-top, top), abs=1e-4) and 0 < top <= 1
    data = json.loads(Path(i.on_compare_download(out[i.c_state])).read_text(encoding="utf-8"))
    assert written == ["compare-transformer-lstm"] and i.on_compare_download(None) is None
    assert data["models"]["b"]["map"] == "saliency" and 0 <= data["similarity"] < 1
    same = i.on_compare(SENTENCE, "luong", "luong", "b")
    assert "Similarity **1.000**" in same[i.c_status]
    assert "no reference" in i.on_compare(SENTENCE, "luong", "gru", "reference")[i.c_status]
    german, _ = TEST_EXAMPLES[1]
    assert "Similarity" in i.on_compare(german, "luong", "gru", "reference")[i.c_status]
    assert i.on_compare_opened(out[i.c_state], SENTENCE, "luong", "gru", "a") == gr.skip()   # the tab shown again: kept
    assert i.on_compare_opened(None, SENTENCE, "luong", "gru", "a")[i.c_state] is not None  # first shown: compared
    refused = i.on_compare(SENTENCE, "luong", "nope", "a")
    assert "Choose two models" in refused[i.c_status]
    assert refused[i.c_state] is None and not refused[i.c_download].visible      # no stale maps or download
    assert all(refused[plot] is None for plot in (i.c_plot_a, i.c_plot_b, i.c_diff))


def test_translate_tab_downloads_the_whole_result_as_json(ui):
    out = ui.on_translate(SENTENCE, ["gru", "transformer"], "greedy", 5, 1.0, 0)
    assert out[ui.download].visible
    data = json.loads(Path(ui.on_download(out[ui.state], out[ui.shown])).read_text(encoding="utf-8"))
    assert set(data["models"]) == {"gru", "transformer"}
    assert data["models"]["gru"]["statistics"]["map"] == "saliency" and data["models"]["transformer"]["attention"]
    assert "statistics of" not in out[ui.cards["gru"].map_stats] and "saliency" in out[ui.cards["gru"].map_stats]


def test_long_or_odd_input_gets_a_message_not_an_error(ui, models):
    i = ui.inspector
    assert "Type a German sentence" in i.on_inspect(" \u200b ", "gru", 3, 1.0, 0)[i.status]
    assert "Choose a model" in i.on_inspect(SENTENCE, "nope", 3, 1.0, 0)[i.status]
    state = inspect(ui, "convs2s")[i.state]                                  # 64 positions in the fixture
    out = i.on_continue(state, "two dogs " * 5000)                             # cut to MAX_FORCED_WORDS, then positions
    assert len(state.what_if["prefix"]) == MAX_FORCED_WORDS and len(state.what_if["translation"].tokens) == 64
    long = "Ein Hund läuft. " * 60                                             # the LSTM's saliency would be too costly
    out = inspect(ui, "lstm", text=long)
    assert "No gradient × input saliency map" in out[i.status]
    with pytest.raises(RequestError, match="No gradient × input saliency map"):
        api.continue_json(models, long, "lstm", "a dog . " * 100, 0)


def test_source_or_prefix_sets_alti_beside_integrated_gradients_for_the_transformer(ui):
    """The Transformer's "source or prefix?" shows ALTI+ (contributions, from 0) under integrated gradients (signed);
    a model without ALTI+ shows integrated gradients alone."""
    from seq2seq.analysis import alti

    i = ui.inspector
    state = inspect(ui, "transformer")[i.state]
    ig, ig_text, alti_plot, alti_text = i.on_source_prefix(state)
    assert ig.data[0].zmin == -ig.data[0].zmax and "integrated gradients" in ig_text
    assert alti_plot.visible and alti_text.visible and "ALTI+" in alti_text.value
    heat = [d for d in json.loads(alti_plot.value["plot"])["data"] if d["type"] == "heatmap"]
    t = state.translation
    want = alti.alti_plus(ui.models.translators["transformer"].model, *ui.models.translators["transformer"].ids(t))
    top = max(float(want.source.max()), float(want.prefix.max()))                 # one scale, 0 to the largest
    assert all(h["zmin"] == 0.0 and h["zmax"] == pytest.approx(top, abs=1e-4) for h in heat)
    share = float(want.source_share.mean())
    assert f"**{100 * share:.0f}%** of a word came from the source" in alti_text.value
    _, _, alti_plot, alti_text = i.on_source_prefix(inspect(ui, "gru")[i.state])
    assert not alti_plot.visible and not alti_text.visible


def gradio_takes(demo: gr.Blocks, fn, answer) -> None:
    """Put a callback's answer through Gradio's own check of an event's outputs (what the server does before the
    page sees it); raises as the server would, where the page would show "Error" on every output."""
    block_fn = next(b for b in demo.fns.values() if b.fn == fn)
    asyncio.run(demo.postprocess_data(block_fn, answer, None))


def test_an_answer_that_changes_nothing_is_one_gradio_takes(built, models):
    """The callbacks that have nothing to change (the tab shown again, the model already inspected, a word not yet
    picked, the beam moved before any inspection) answer so that Gradio leaves every output as it is. An empty dict
    is not that: Gradio rejects it, and every output of the event showed "Error" (the what-if views among them)."""
    demo, ui = built
    i = ui.inspector
    out = inspect(ui, "gru")
    state = out[i.state]
    for fn, answer in [(i.on_inspect_opened, i.on_inspect_opened(state, out[i.status], SENTENCE, "gru", 3, 1.0, 0)),
                       (i.on_model, i.on_model(state, SENTENCE, "gru", 3, 1.0, 0)),
                       (i.on_pick, i.on_pick(state, 1, None)),
                       (i.on_beam, i.on_beam(None, 3, 1.0)),
                       (i.on_compare_opened, i.on_compare_opened(("x", "a", ("gru", "lstm"), None), SENTENCE, "gru",
                                                                 "lstm", "a")),
                       (i.on_model, out)]:        # and an answer that changes every output
        gradio_takes(demo, fn, answer)


def test_choosing_the_model_already_inspected_redoes_nothing(ui):
    """A menu can send its choice twice; the second must not redo the inspection (it reset the what-if menus while
    a word was being picked), while another model or another sentence is inspected anew."""
    i = ui.inspector
    state = inspect(ui, "bahdanau")[i.state]
    picked = i.on_pick(state, 1, state.steps.top_words[1][3])
    assert picked[i.state].what_if is not None
    assert i.on_model(state, SENTENCE, "bahdanau", 3, 1.0, 0) == gr.skip()
    assert i.on_model(state, "", "bahdanau", 3, 1.0, 0) == gr.skip()                  # an emptied box: the same sentence
    assert i.on_model(state, SENTENCE, "gru", 3, 1.0, 0)[i.state].name == "gru"
    assert i.on_model(state, "Zwei Hunde spielen im Schnee.", "bahdanau", 3, 1.0, 0)[i.state].text.startswith("Zwei")
