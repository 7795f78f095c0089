"""The app's library (seq2seq.explorer): a set of models, translating with several, an inspection,
a comparison, the JSON answers and the text helpers, without Gradio."""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from seq2seq import load_checkpoint
from seq2seq.explorer import api
from seq2seq.explorer.cards import card_figures
from seq2seq.explorer.service import (MAX_INPUT_CHARS, Inspection, ModelSet, RequestError, checked,
                                      compare, translate_all, well_formed)
from seq2seq.explorer.examples import normalise_sentence
from seq2seq.explorer.text import md

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


def test_one_broken_model_does_not_take_the_others_down(checkpoint_root, tmp_path, monkeypatch):
    for arch in ("gru", "transformer"):
        shutil.copytree(checkpoint_root / arch, tmp_path / arch)
    models = ModelSet(tmp_path, device="cpu", references={})

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(models.translators["gru"], "translate", boom)
    results, reference, messages = translate_all(models, SENTENCE, ["gru", "transformer"])
    assert list(results) == ["transformer"] and messages == ["gru failed: out of memory"] and reference is None
    [expected] = load_checkpoint(tmp_path / "transformer").translate([SENTENCE])
    assert results["transformer"].translation.tokens == expected.tokens


def test_a_test_sentence_brings_its_reference_and_sentence_bleu(models):
    key = normalise_sentence("Ein Hund rennt.")
    models.references[key] = "A dog runs."
    try:
        results, reference, _ = translate_all(models, "  Ein   HUND rennt. ", ["transformer"])
    finally:
        del models.references[key]
    assert reference == "A dog runs." and 0 <= results["transformer"].bleu <= 100


def test_long_input_is_cut_and_said(models):
    results, _, messages = translate_all(models, "Hund " * 10_000, ["gru"])
    assert messages[0] == f"Only the first {MAX_INPUT_CHARS:,} characters of this long input are read."
    assert results["gru"].translation.truncated


@pytest.mark.parametrize("value, ok", [(3, 3), ("4", 4), (4.0, 4), (0, None), (11, None), (2.5, None), ("x", None),
                                       (float("nan"), None), (None, None)])
def test_checked_keeps_what_the_sliders_allow(value, ok):
    if ok is None:
        with pytest.raises(RequestError, match="beam_size must be a whole number from 1 to 10"):
            checked("beam_size", value, 1, 10)
    else:
        assert checked("beam_size", value, 1, 10) == ok


def test_card_figures_clamp_the_layer_and_head_and_title_the_choice(models):
    results, _, _ = translate_all(models, SENTENCE, ["transformer"])
    r = results["transformer"]
    cross = r.translation.attention["cross"].float()           # [T, layers, heads, S]
    f = card_figures(models, r, "cross", 7, 3)                  # layer 7 does not exist: the mean of the layers
    assert (f.layer, f.head) == (-1, 3) and f.title == "cross-attention · mean of the layers · head 4 of 4"
    torch.testing.assert_close(f.shown, cross[:, :, 3].mean(1))
    one = card_figures(models, r, "cross", 0, -1)
    assert one.title == "cross-attention · layer 1 of 2 · mean of the heads"
    torch.testing.assert_close(one.shown, cross[:, 0].mean(1))
    default = card_figures(models, r, "cross", None, None)     # what the card opens with: the Inspect tab's map
    assert default.title == "cross-attention · mean of the layers and heads"
    torch.testing.assert_close(default.shown, cross.mean((1, 2)))


def test_an_inspection_without_a_page(models):
    i = Inspection.run(models, "convs2s", SENTENCE)
    t = i.translation
    assert i.steps.written == t.raw_tokens and i.map[1].shape == (len(t.output_labels), len(t.src_tokens))
    w = i.continue_with(models, ["a", "dogs", "zebra"])
    assert w["translation"].raw_tokens[:3] == ["a", "dogs", "<unk>"] and w["forced"] == 3 and w["unknown"] == ["zebra"]
    assert i.force(models, "   ") is None and i.forced is None
    f = i.force(models, "A man in an orange hat.")
    assert f["translation"].output_labels == ["a", "man", "in", "an", "orange", "hat", ".", "<eos>"]
    b = i.beam_search(models, 3, 0.0)
    rows = i.nbest_rows()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)) and b["beam_size"] == 3
    scores = [r[2] for r in rows]
    assert scores == sorted(scores, reverse=True)                # length penalty 0: the score is the log-probability
    assert all(r[2] == pytest.approx(r[3], abs=1e-3) for r in rows)
    data = api.inspection_json(models, i)
    assert json.loads(json.dumps(data)) == data
    assert data["forced"]["reference"] == "A man in an orange hat." and data["what_if"]["forced_words"] == 3
    with pytest.raises(RequestError, match="Choose a model"):
        Inspection.run(models, "nope", SENTENCE)
    with pytest.raises(RequestError, match="beam size"):
        i.beam_search(models, 0, 1.0)


def test_compare_needs_two_models_and_a_reference_for_the_reference(models):
    c, tokens = compare(models, SENTENCE, "transformer", "gru", "a")
    assert c.rows == tokens + ["<eos>"] and c.kinds == ("cross", "saliency")
    data = api.comparison_json(SENTENCE, "a", ("transformer", "gru"), c)
    torch.testing.assert_close(torch.tensor(data["difference"]), c.difference, atol=1e-4, rtol=0)
    with pytest.raises(RequestError, match="no reference"):
        compare(models, SENTENCE, "transformer", "gru", "reference")
    with pytest.raises(RequestError, match="Choose two models"):
        compare(models, SENTENCE, "transformer", "nope", "a")


def test_markdown_text_is_shown_literally():
    assert md("*a* _b_ <script>`x`</script> [l](u) #h |t|") == (
        "&#42;a&#42; &#95;b&#95; &lt;script&gt;&#96;x&#96;&lt;/script&gt; &#91;l&#93;(u) &#35;h &#124;t&#124;")


def test_lone_surrogates_are_replaced_so_answers_can_be_written(models):
    """A Python str may hold a lone surrogate (hypothesis found "0\\ud800"), which UTF-8 cannot encode: the
    JSON download then failed. Input is made well-formed on the way in; real characters pass unchanged."""
    assert well_formed("0\ud800 Hund \udfff") == "0\ufffd Hund \ufffd"
    assert well_formed("Grüße 😀") == "Grüße 😀"
    results, _, _ = translate_all(models, "0\ud800 Hund", ["gru"])
    data = api.results_json(models, "0\ud800 Hund", results, None, [])
    path = api.download_file(data, "translations")
    assert json.loads(open(path, encoding="utf-8").read())["models"]["gru"]["src_tokens"][:2] == ["0", "\ufffd"]


def test_downloads_keep_the_newest_files_and_never_the_one_just_written(tmp_path, monkeypatch):
    """Only the newest KEEP_DOWNLOADS files are kept. Pruning once sorted the new file by the part of its name
    after its stem, which put it first among other stems' files: once the folder was full, every download of
    a comparison or an inspection deleted itself and the browser's download was cancelled."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(api, "KEEP_DOWNLOADS", 5)
    paths = []
    for i, stem in enumerate(["translations", "translations", "inspect-gru", "translations", "zz", "translations"]):
        paths.append(Path(api.download_file({"i": i}, stem)))
        os.utime(paths[-1], ns=(i * 10**9, i * 10**9))           # made a second apart, whatever the clock says
    for stem in ("compare-lstm-gru", "inspect-gru", "translations"):
        new = Path(api.download_file({"stem": stem}, stem))
        assert json.loads(new.read_text(encoding="utf-8")) == {"stem": stem}
    kept = sorted(p.name for p in (tmp_path / "seq2seq-explorer").glob("*.json"))
    assert len(kept) == 5 and not paths[0].exists() and paths[-1].exists() and new.name in kept


def test_saliency_maps_are_drawn_on_0_to_their_largest_cell(models):
    """Saliency spreads each row over every source word: on the 0-1 scale of attention it looked blank."""
    results, _, _ = translate_all(models, SENTENCE, ["gru", "transformer"])
    sal = card_figures(models, results["gru"], "saliency", None, None)
    top = float(sal.shown.max())
    assert top < 1 and sal.plot.data[0].zmin == 0 and sal.plot.data[0].zmax == pytest.approx(top)
    assert sal.plot.data[0].colorbar.title.text == f"0–{top:.2f}"
    cross = card_figures(models, results["transformer"], "cross", None, None)      # attention stays on 0-1
    assert (cross.plot.data[0].zmin, cross.plot.data[0].zmax) == (0, 1)


def test_message_figures_wrap_to_a_phones_width():
    """Plotly does not wrap text: a long message ran off a 390 px screen ("…see the model co")."""
    from seq2seq.explorer.figures import MESSAGE_CHARS, message_figure

    text = "Press Inspect: then edit the start of the output and see the model continue <from> there."
    lines = message_figure(text).layout.annotations[0].text.split("<br>")
    assert len(lines) > 1 and all(len(html.unescape(line)) <= MESSAGE_CHARS for line in lines)
    assert html.unescape(" ".join(lines)) == text                  # every word kept, and escaped for Plotly


def test_models_come_in_the_order_of_their_papers_with_their_names(models, ui):
    """The registry's order is the order of imports; the page, its menus and the tables follow the papers."""
    from seq2seq.papers import PAPER_ORDER, display_name, paper_rank
    from seq2seq.results import result_rows

    assert list(models) == list(PAPER_ORDER)
    assert [r.name for r in result_rows(models.root)] == list(PAPER_ORDER)
    assert ui.names.choices == [(display_name(n), n) for n in PAPER_ORDER]
    assert [label for label, _ in ui.names.choices] == ["LSTM", "GRU", "Bahdanau", "Luong", "ConvS2S", "Transformer"]
    assert display_name("transformer-sp", "transformer") == "transformer-sp (Transformer)"
    ranked = sorted(["transformer-sp", "zeta", "luong-dot", "transformer", "lstm"],
                    key=lambda n: paper_rank(n, {"transformer-sp": "transformer", "luong-dot": "luong"}.get(n, n)))
    assert ranked == ["lstm", "transformer", "luong-dot", "transformer-sp", "zeta"]   # the six, then the rest
