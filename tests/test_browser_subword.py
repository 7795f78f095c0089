"""A subword model's card in the browser, at desk and phone widths: the map over the pieces the model reads,
and, after the Units switch, over spaCy's words."""

from __future__ import annotations

import shutil

import pytest

from conftest import serve_app
from seq2seq.data import tokenizer
from seq2seq.explorer.examples import DEMO
from seq2seq.translator import load_checkpoint
from test_browser import ARGS, CHROMIUM, require_browser


@pytest.fixture(scope="module")
def server(checkpoint_root, subword_checkpoint, tmp_path_factory):
    require_browser()
    root = tmp_path_factory.mktemp("mixed") / "checkpoints"
    shutil.copytree(checkpoint_root / "gru", root / "gru")                # a word model beside it
    shutil.copytree(subword_checkpoint, root / "transformer")
    with serve_app(root, root.parent / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        yield url


def ticks(page, axis: str) -> list[str]:
    return page.eval_on_selector_all(f"#card-transformer .heatmap .{axis}tick text", "els => els.map(e => e.textContent)")


@pytest.mark.parametrize("width", [1440, 390])
def test_a_subword_card_shows_pieces_then_words(server, subword_checkpoint, width):
    [t] = load_checkpoint(subword_checkpoint).translate([DEMO])
    words = tokenizer("de")(DEMO)
    assert t.src_tokens != words                                         # the pieces are not the words
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(server)
        expected = t.src_tokens
        page.wait_for_function("n => document.querySelectorAll('#card-transformer .heatmap .xtick text').length === n",
                               arg=len(expected), timeout=90_000)
        assert ticks(page, "x") == expected
        assert not page.is_visible("#units-gru")                          # a word model has no switch
        page.locator("#units-transformer").get_by_text("words").click()
        page.wait_for_function("want => JSON.stringify([...document.querySelectorAll('#card-transformer .heatmap "
                               ".xtick text')].map(e => e.textContent)) === JSON.stringify(want)", arg=words,
                               timeout=60_000)
        title = page.eval_on_selector("#card-transformer .heatmap .gtitle", "e => e.textContent")
        assert "column sums its pieces" in title and "averages them" in title
        page.screenshot(path=str(subword_checkpoint.parent / f"subword-{width}.png"), full_page=False)
        browser.close()
