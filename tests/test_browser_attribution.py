"""Attributions in a real browser (``python app.py`` on tiny random checkpoints, headless Chromium, like
``test_browser_views.py``): a card switched from attention to integrated gradients and input x gradient,
the Inspect tab's source/prefix split and its contrastive attribution ("why this word and not that?")."""

from __future__ import annotations

from seq2seq import load_checkpoint
from seq2seq.analysis.attribution import N_STEPS
from test_browser_views import (SENTENCE, choose, inspect, page, server, ticks, views_root,  # noqa: F401
                                wait_title)


def test_a_card_switches_its_map_to_the_attributions(page, views_root):
    page.get_by_role("tab", name="Translate").click()
    page.fill("#source-text textarea", SENTENCE)
    page.click("#translate-button")
    [t] = load_checkpoint(views_root / "transformer").translate([SENTENCE])
    card = "#card-transformer"
    wait_title(page, f"{card} .heatmap", "transformer", "cross-attention")
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[f"{card} .heatmap .subplot.xy .yaxislayer-above .ytick text", len(t.output_labels)])
    choose(page, "#map-transformer", "integrated gradients")
    wait_title(page, f"{card} .heatmap", "transformer: integrated gradients", f"{N_STEPS} steps from a zero baseline")
    assert ticks(page, f"{card} .heatmap", "x") == t.src_tokens
    assert "Δ log p" in page.text_content(f"{card} .heatmap .colorbar")
    assert "What raised each English word" in page.inner_text(card)     # the plain sentence, shown
    assert "completeness" in page.text_content(card)                    # the numbers, folded beneath it
    choose(page, "#map-transformer", "input × gradient")
    wait_title(page, f"{card} .heatmap", "transformer: input × gradient")
    choose(page, "#map-lstm", "integrated gradients")                 # a model without attention too
    wait_title(page, "#card-lstm .heatmap", "lstm: integrated gradients")


def test_inspect_splits_each_word_between_source_and_prefix_and_contrasts_two_words(page, views_root):
    translator = load_checkpoint(views_root / "gru")
    [t] = translator.translate([SENTENCE])
    inspect(page, "gru")
    page.click("#source-prefix-button")
    wait_title(page, "#source-prefix-plot", "gru: integrated gradients over source and written words")
    subplot_titles = page.eval_on_selector_all("#source-prefix-plot .annotation-text", "els => els.map(e => e.textContent)")
    assert {"source words", "words already written", "share"} <= set(subplot_titles)
    assert "came from the source" in page.inner_text("#source-prefix-text")
    bars = page.query_selector_all("#source-prefix-plot .barlayer .point")
    assert len(bars) == 2 * len(t.output_labels)                     # source share and prefix share per word

    word = t.output_labels[0]
    foil = next(w for w in translator.trg_vocab.itos[4:] if w != word)
    choose(page, "#contrast-step", f"1: {word}")
    page.fill("#contrast-foil textarea", foil)
    page.click("#contrast-button")
    wait_title(page, "#contrast-plot", f"why “{word}” and not “{foil}”")
    assert len(page.query_selector_all("#contrast-plot .barlayer .point")) == len(t.src_tokens)
    assert "a difference of" in page.inner_text("#contrast-text")

    page.fill("#contrast-foil textarea", "zzznotawordzzz")             # a word the model cannot write
    page.click("#contrast-button")
    page.wait_for_function("() => document.querySelector('#contrast-plot').innerText.includes('vocabulary')",
                           timeout=30_000)

    choose(page, "#inspect-model", "transformer")                    # another model: the old views are cleared
    wait_title(page, "#inspect-steps", "transformer · step 1 of")
    page.wait_for_function("() => document.querySelector('#contrast-text').innerText.trim() === ''", timeout=30_000)
    assert "Press" in page.inner_text("#source-prefix-plot")
