"""Issue 23 in a real browser, at a desk (1440 px) and on a phone (390 px): a word copied from the source because the
model wrote <unk> is marked in the card's translation and on its map's row; an input in which the word models know
no word gets a clear message on their cards; and the step-by-step view draws saliency on its own scale (0 to its
largest cell), as the cards do, not on attention's 0-1, where it looked blank.

The tiny random Transformer of conftest writes only <unk> for SENTENCE, so every word it shows is copied."""

from __future__ import annotations

import pytest

from conftest import chromium
from seq2seq import ARCHITECTURES
from seq2seq.explorer.service import Inspection
from seq2seq.papers import display_name
from test_browser_layout import show_tab
from test_unk import EMOJI, NO_WORD, SENTENCE

WIDTHS = (1440, 390)


@pytest.fixture(scope="module")
def server(app_url):
    return app_url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request, browser, server):
    page = browser.new_page(viewport={"width": request.param, "height": 900})
    page.goto(server)
    page.wait_for_selector("#card-transformer .heatmap .xtick text", timeout=60_000)
    yield page
    page.close()


def translate(page, text: str, ready: str):
    show_tab(page, "Translate")
    page.fill("#source-text textarea", text)
    page.click("#translate-button")
    page.wait_for_function(ready, timeout=60_000)


def on_screen(page, selector: str) -> bool:
    """Drawn, and inside the page's width (nothing cut off on a phone)."""
    box = page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; }")
    return box[2] > 0 and box[0] >= 0 and box[1] <= page.viewport_size["width"] + 0.5


def test_a_copied_word_is_marked_in_the_translation_and_on_its_row(page, models):
    [t] = models.translators["transformer"].translate([SENTENCE])
    translate(page, SENTENCE, "() => [...document.querySelectorAll('#card-transformer .xtick text')]"
                              ".some(e => e.textContent === 'starrt')")
    card = "#card-transformer"
    # the card's text is drawn a moment after its map (both come in one step of the streamed answer)
    page.wait_for_function("([card, text]) => document.querySelector(card + ' .translation .translation-text')"
                           ".innerText === text", arg=[card, t.text], timeout=10_000)
    marks = page.query_selector_all(f"{card} .translation-text u.copied")
    assert len(marks) == len(t.copied) and all("copied from the source" in m.get_attribute("title") for m in marks)
    assert page.inner_text(f"{card} .translation .translation-text") == t.text
    assert on_screen(page, f"{card} .translation-text u.copied")
    style = page.eval_on_selector(f"{card} .translation-text u.copied",
                                  "e => [getComputedStyle(e).textDecorationLine, getComputedStyle(e).color]")
    assert "underline" in style[0] and style[1] != page.eval_on_selector(f"{card} .translation-text",
                                                                         "e => getComputedStyle(e).color")
    note = page.inner_text(f"{card} .copied-note")                      # a phone cannot hover: the line says it
    assert "copied from the German" in note and "<unk>" in note and on_screen(page, f"{card} .copied-note")
    rows = page.eval_on_selector_all(f"{card} .heatmap .ytick text", "els => els.map(e => [e.textContent, "
                                     "!!e.querySelector('tspan[style*=\"underline\"]')])")
    assert [w for w, _ in rows] == t.output_labels                       # the words themselves, unchanged
    assert [n for n, (_, underlined) in enumerate(rows) if underlined] == t.copied
    title = page.eval_on_selector(f"{card} .heatmap .gtitle", "e => e.textContent")
    assert "copied from the source" in title                              # the map's note says what the arrow is
    gru = page.inner_text("#card-gru .translation")                      # nothing copied there: nothing marked
    assert not page.query_selector_all("#card-gru u.copied") and "copied" not in gru


def test_an_input_with_no_known_word_gets_the_message_on_each_word_models_card(page):
    translate(page, EMOJI, "() => document.querySelectorAll('.translation .no-known-word').length === "
                           f"{len(ARCHITECTURES)}")
    for arch in ARCHITECTURES:
        card = f"#card-{arch}"
        assert page.inner_text(f"{card} .translation .no-known-word") == NO_WORD
        assert on_screen(page, f"{card} .translation .no-known-word")
        assert not page.query_selector(f"{card} .heatmap .heatmaplayer")          # no map of the emoji copied
        assert "log-probability" not in page.inner_text(card)                     # no numbers of nothing
        assert EMOJI not in page.inner_text(card)                                 # no "😀 😀 🚲 🚲 🚲."
    translate(page, SENTENCE, "() => !document.querySelector('.translation .no-known-word')")  # and back


def test_inspect_step_by_step_draws_saliency_on_its_own_scale(page, models):
    expected = float(Inspection.run(models, "gru", SENTENCE).steps.weights.max())
    assert expected < 0.9                                       # on 0-1 it would look pale: the bug this guards
    show_tab(page, "Inspect")
    page.wait_for_selector("#inspect-steps .gtitle", timeout=60_000)
    page.fill("#inspect-text textarea", SENTENCE)
    page.click("#inspect-model input")
    page.click(f'[role=option][aria-label="{display_name("gru")}"]')
    page.wait_for_function("() => { const t = document.querySelector('#inspect-steps .gtitle');"
                           " return t && t.textContent.replace(/\\s/g, '').includes('gru·step1of'); }", timeout=60_000)
    zmin, zmax = page.eval_on_selector("#inspect-steps .js-plotly-plot", "e => [e.data[0].zmin, e.data[0].zmax]")
    assert zmin == 0 and zmax == pytest.approx(expected, abs=1e-3)
    scale = page.eval_on_selector("#inspect-steps .cbtitle", "e => e.textContent")
    assert scale == f"0–{expected:.2f}"                                     # the colour bar says so
    assert on_screen(page, "#inspect-steps .heatmaplayer")
