"""German inside the English, made visible (issue 23): a word the model did not write (it wrote <unk>, and
``replace_unk`` copied the source word it attended to most) is marked in the card's translation, the map's row
label, Inspect and the JSON; and an input in which a word-level model knows no word gets a clear message
instead of a translation made of the input's own symbols, while a subword model still translates it.

The tiny random Transformer of conftest writes only <unk> for SENTENCE, so every word it shows is copied.

Bugs planted in a scratch copy to prove these tests (each made some fail): Translation.copied always empty;
marked_text underlining nothing; row_label ignoring copied rows (also test_browser_unk); the hover's "copied"
note dropped; Translator.knows_no_word always False, the old behaviour (also test_hardening and
test_browser_unk); on_view redrawing a map for a result with a notice."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from seq2seq import ARCHITECTURES, load_checkpoint
from seq2seq.explorer import api
from seq2seq.explorer.figures import COPIED_MARK
from seq2seq.explorer.service import ModelSet, RequestError, compare, translate_all
from seq2seq.explorer.text import COPIED_TITLE, marked_text, translation_html
from seq2seq.translator import Translation

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
EMOJI = "😀 🚲"
NO_WORD = "None of these words is in this model's German vocabulary, so it has nothing to translate."
WORD_MODELS = list(ARCHITECTURES)


def shown_text(card_html: str) -> str:
    """What a person reads in a card's translation (gr.HTML): its text, tags dropped, entities decoded."""
    body = re.search(r'<div class="translation-text[^"]*"[^>]*>(.*?)</div>', card_html, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def underlined(card_html: str) -> list[str]:
    return [html.unescape(w) for w in re.findall(r'<u class="copied" title="[^"]*">(.*?)</u>', card_html)]


# ---------------------------------------------------------------------------- which words were copied


def test_copied_positions_are_where_the_model_wrote_unk_and_a_source_word_stands():
    t = Translation("", ["ein", "mann", "starrt"], ["a", "man", "starrt", "<unk>"], "A man starrt <unk>", 0.0, True,
                    raw_tokens=["a", "man", "<unk>", "<unk>"])
    assert t.copied == [2]             # position 3 kept <unk> (nothing copied: a model without attention)


def test_marked_text_underlines_each_copied_word_where_it_stands_and_nothing_else():
    t = Translation("", [], ["starrt", "a", "man", "starrt", "."], "Starrt a man starrt.", 0.0, True,
                    raw_tokens=["<unk>", "a", "man", "starrt", "."])
    out = marked_text(t)
    assert out.startswith('<u class="copied"') and underlined(out) == ["Starrt"]    # the first, capitalised
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == t.text                      # the text unchanged
    assert html.escape(COPIED_TITLE) in out                                          # the hover says why
    t = Translation("", [], ["<b>", "x"], "<b> x", 0.0, True, raw_tokens=["<unk>", "x"])
    assert "<b>" not in marked_text(t) and underlined(marked_text(t)) == ["<b>"]     # escaped, never markup


@pytest.fixture(scope="module")
def copied(models):
    """The tiny Transformer's translation of SENTENCE: every word copied."""
    [t] = models.translators["transformer"].translate([SENTENCE])
    assert t.copied and all(t.raw_tokens[i] == "<unk>" for i in t.copied)
    return t


def test_the_card_marks_each_copied_word_and_says_what_the_mark_means(ui, copied):
    out = ui.on_translate(SENTENCE, ["transformer", "gru"], "greedy", 5, 1.0, 0)
    card = out[ui.cards["transformer"].text]
    assert shown_text(card) == copied.text
    assert len(underlined(card)) == len(copied.copied)
    assert "copied from the German" in card and "&lt;unk&gt;" in card             # a phone cannot hover: a line says it
    gru = out[ui.cards["gru"].text]
    assert shown_text(gru) == out[ui.state]["gru"].translation.text and "copied" not in gru   # nothing copied there


def test_the_maps_row_labels_mark_the_copied_words_with_hover_and_note(ui, copied):
    out = ui.on_translate(SENTENCE, ["transformer"], "greedy", 5, 1.0, 0)
    for kind in ("cross", "decoder_self", "value_weighted", "saliency"):
        _, _, fig, _, _, _ = ui.on_view("transformer", out[ui.state], kind, None, None)
        ticks = list(fig.layout.yaxis.ticktext)
        for i, label in enumerate(ticks):
            assert (COPIED_MARK in label) == (i in copied.copied), (kind, i, label)
        assert "copied from the source" in fig.layout.title.text                      # the note says what the underline is
        hover = fig.data[0].customdata
        assert "copied from the source" in hover[copied.copied[0]][0][0]
        if len(copied.output_labels) > len(copied.tokens):                          # <eos>: not copied
            assert "copied" not in hover[-1][0][0]


def test_inspect_marks_the_copied_words_in_its_status_step_by_step_and_free_map(ui, copied):
    i = ui.inspector
    out = i.on_inspect(SENTENCE, "transformer", 3, 1.0, 0)
    assert len(underlined(out[i.status])) == len(copied.copied) and "copied from the German" in out[i.status]
    free = list(out[i.free].layout.yaxis.ticktext)
    assert [n for n, label in enumerate(free) if COPIED_MARK in label] == copied.copied
    steps = out[i.steps]
    last = steps.layout.sliders[0].steps[-1].args[0][0]["layout"]["yaxis"]["ticktext"]      # the last frame's rows
    assert [n for n, label in enumerate(last) if COPIED_MARK in label] == copied.copied
    first = steps.layout.sliders[0].steps[0].args[0][0]["layout"]["title"]["text"]
    assert "source word it looked at most" in first                                      # step 1 wrote <unk>


def test_what_if_marks_a_forced_unknown_word_copied_from_the_source(ui):
    i = ui.inspector
    state = i.on_inspect(SENTENCE, "bahdanau", 3, 1.0, 0)[i.state]
    out = i.on_continue(state, "two zebras")                    # "zebras" is outside the tiny vocabulary: <unk>
    w = state.what_if["translation"]
    assert 1 in w.copied and COPIED_MARK in out[i.whatif].layout.yaxis.ticktext[1]
    assert len(underlined(out[i.whatif_text])) == len(w.copied)


def test_the_json_lists_the_copied_positions(models, copied):
    answer = api.translate_json(models, SENTENCE, ["transformer", "gru"])
    assert answer["models"]["transformer"]["copied"] == copied.copied
    assert answer["models"]["gru"]["copied"] == [] and answer["models"]["gru"]["message"] is None
    out = api.continue_json(models, SENTENCE, "bahdanau", "two zebras")
    assert 1 in out["copied"] and out["raw_tokens"][1] == "<unk>" and out["tokens"][1] != "<unk>"


# ---------------------------------------------------------------------------- an input with no known word


@pytest.mark.parametrize("text", [EMOJI, "!?." * 20, "狗在雪地里跑 🐶"])
def test_a_word_model_that_knows_no_word_says_so_instead_of_translating(ui, models, text):
    out = ui.on_translate(text, WORD_MODELS, "greedy", 5, 1.0, 0)
    assert set(out[ui.state]) == set(WORD_MODELS)                        # every card shown, none failed
    for name in WORD_MODELS:
        card = ui.cards[name]
        r = out[ui.state][name]
        assert r.notice == NO_WORD and r.translation.text == "" and not r.translation.tokens
        assert NO_WORD in html.unescape(out[card.text]) and "no-known-word" in out[card.text]
        assert out[card.stats] == ""                                      # no log-probability of nothing
        assert NO_WORD in out[card.plot].layout.annotations[0].text.replace("<br>", " ")
        for kind in models.kinds(name):                                    # another map chosen: the same message
            _, _, fig, _, _, stats = ui.on_view(name, out[ui.state], kind, None, None)
            assert NO_WORD in fig.layout.annotations[0].text.replace("<br>", " ") and stats == ""
    answer = api.translate_json(models, text)
    for name in WORD_MODELS:
        m = answer["models"][name]
        assert m["message"] == NO_WORD and m["text"] == "" and m["statistics"] is None


def test_one_known_word_is_enough_to_translate(ui):
    out = ui.on_translate("😀 Mann 🚲", WORD_MODELS, "greedy", 5, 1.0, 0)
    for name in WORD_MODELS:
        r = out[ui.state][name]
        assert r.notice is None and r.translation.tokens and "no-known-word" not in out[ui.cards[name].text]


def test_inspect_and_compare_refuse_an_input_with_no_known_word_with_the_message(ui, models):
    i = ui.inspector
    out = i.on_inspect(EMOJI, "gru", 3, 1.0, 0)
    assert NO_WORD in out[i.status] and "GRU" in out[i.status]
    with pytest.raises(RequestError, match="nothing to translate"):
        compare(models, EMOJI, "gru", "transformer", "a")
    out = i.on_compare(EMOJI, "gru", "transformer", "a")
    assert "nothing to translate" in out[i.c_status] and out[i.c_plot_a] is None


def test_a_subword_model_still_translates_an_input_with_no_known_word(subword_checkpoint, checkpoint_root, tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoint_root / "gru", root / "gru")
    shutil.copytree(subword_checkpoint, root / "transformer-sp")
    models = ModelSet(root, device="cpu", references={})
    results, _, _ = translate_all(models, EMOJI, ["gru", "transformer-sp"], max_len=8)
    assert results["gru"].notice == NO_WORD
    sp = results["transformer-sp"]
    assert sp.notice is None and sp.translation.tokens and "no-known-word" not in translation_html(sp)
    assert not load_checkpoint(subword_checkpoint).knows_no_word(["😀", "🚲"])


def test_no_small_multiples_for_a_card_with_no_translation(ui):
    out = ui.on_translate(EMOJI, ["transformer", "convs2s"], "greedy", 5, 1.0, 0)
    for name in ("transformer", "convs2s"):
        for kind in ("cross", "encoder_self", "decoder_self"):
            assert ui.on_overview(name, out[ui.state], kind) is None
