"""The real page in a real browser: start ``python app.py`` on tiny checkpoints, type a sentence
in headless Chromium, press Translate, and check that every architecture's card renders a
Plotly heatmap whose axes carry the right tokens. Needs Debian's chromium (``.ci/run``
installs it) and Playwright for Python; no browser download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import chromium
from seq2seq import ARCHITECTURES, load_checkpoint

CHROMIUM = Path("/usr/bin/chromium")
SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_required() -> bool:
    """CI (``CI=true``, as CI sets it) or ``SEQ2SEQ_REQUIRE_BROWSER`` (``.ci/run`` sets it): fail, never skip."""
    return bool(os.environ.get("SEQ2SEQ_REQUIRE_BROWSER")) or os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require_browser():
    """Playwright's sync API; skips without chromium or Playwright (the reason starts "browser tests
    skipped", which conftest repeats above the summary line), or fails where the browser is required."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    if sync_api is None:
        missing = "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    elif not CHROMIUM.is_file():
        missing = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    else:
        return sync_api
    if browser_required():
        pytest.fail(f"the browser tests are required here (CI or SEQ2SEQ_REQUIRE_BROWSER) but {missing}")
    pytest.skip(f"browser tests skipped: {missing}")


@pytest.fixture(scope="module")
def server(app_url):
    return app_url


@pytest.fixture(scope="module")
def page(server):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.wait_for_selector("#translate-button", timeout=60_000)
        yield page


def tick_labels(card, axis: str) -> list[str]:
    return card.eval_on_selector_all(f".heatmap .{axis}tick text", "els => els.map(e => e.textContent)")


def wait_for_ticks(page, selector: str, expected: list[str], timeout: int = 60_000):
    """Wait until the card's map has these column labels (the page opens with another sentence's maps)."""
    page.wait_for_function("([sel, want]) => JSON.stringify([...document.querySelectorAll(sel + ' .heatmap .xtick text')]"
                           ".map(e => e.textContent)) === JSON.stringify(want)", arg=[selector, expected], timeout=timeout)


def test_the_page_opens_with_the_first_example_translated(page, checkpoint_root):
    from seq2seq.explorer.examples import DEMO, TEST_EXAMPLES

    [t] = load_checkpoint(checkpoint_root / "transformer").translate([DEMO])
    wait_for_ticks(page, "#card-transformer", t.src_tokens)
    assert page.input_value("#reference textarea") == TEST_EXAMPLES[0][1]             # a test sentence: its reference
    assert "sentence BLEU" in page.inner_text("#card-transformer")
    # beam settings apply only to beam search: shown with beam, hidden under greedy
    page.get_by_text("Models and decoding").click()
    page.get_by_label("greedy", exact=True).wait_for(state="visible")
    assert not page.is_visible("#beam-size") and not page.is_visible("#length-penalty")
    page.get_by_label("beam", exact=True).check()
    page.wait_for_selector("#beam-size input[type=range]", state="visible", timeout=10_000)
    assert page.is_visible("#length-penalty input[type=range]")
    page.get_by_label("greedy", exact=True).check()
    page.wait_for_selector("#beam-size", state="hidden", timeout=10_000)


def test_translate_renders_a_heatmap_per_architecture(page, checkpoint_root, tmp_path):
    page.fill("#source-text textarea", SENTENCE)
    page.click("#translate-button")
    cards = {arch: f"#card-{arch}" for arch in ARCHITECTURES}
    try:
        for arch, selector in cards.items():
            [t] = load_checkpoint(checkpoint_root / arch).translate([SENTENCE])
            wait_for_ticks(page, selector, t.src_tokens)
    finally:
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'app.png'}")
    for arch, selector in cards.items():
        card = page.query_selector(selector)
        assert card is not None and card.query_selector(".heatmap .js-plotly-plot .heatmaplayer"), f"{arch}: no heatmap"
        # The same checkpoint translated here, greedily, gives the tokens the page must show.
        [t] = load_checkpoint(checkpoint_root / arch).translate([SENTENCE])
        assert tick_labels(card, "x") == t.src_tokens, arch
        assert tick_labels(card, "y") == t.output_labels, arch                    # "<eos>" literally
        assert card.query_selector(".translation .translation-text").inner_text() == t.text
    for arch in ("lstm", "gru"):
        assert "no attention" in page.query_selector(f"#card-{arch} .heatmap .gtitle").text_content()
    # Hovering a cell names both tokens and the weight; the last row is <eos> when the model finished.
    [t] = load_checkpoint(checkpoint_root / "transformer").translate([SENTENCE])
    grid = page.query_selector("#card-transformer .heatmap .nsewdrag")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.move(box["x"] + 12, box["y"] + box["height"] - 6, steps=5)
    page.wait_for_selector(".hovertext", timeout=10_000)
    hover = page.query_selector(".hovertext").text_content()
    assert f"output: {t.output_labels[-1]}" in hover and f"source: {t.src_tokens[0]}" in hover and "weight" in hover


def test_markup_in_the_input_is_shown_as_text(page, checkpoint_root):
    text = "Ein <b>Hund</b> & eine Katze"
    page.fill("#source-text textarea", text)
    page.press("#source-text textarea", "Enter")                                # Enter translates too
    page.wait_for_function("""() => [...document.querySelectorAll('#card-transformer .heatmap .xtick text')]
                              .some(e => e.textContent.includes('<'))""", timeout=60_000)
    labels = tick_labels(page.query_selector("#card-transformer"), "x")
    assert labels == load_checkpoint(checkpoint_root / "transformer").tokenize(text)[0]
    assert "&" in labels and "<" in labels and "hund</b" in labels
    assert page.query_selector("#card-transformer .heatmap b") is None          # nothing was rendered as HTML


def test_a_card_is_dimmed_while_it_waits_and_not_shown_when_hidden(page, checkpoint_root):
    """A card's state is a small element's value (app.card_state), read by the page's style: waiting dims all but its
    title (which says "translating…"), hidden takes the card off the page, shown brings it back as it was."""
    import app

    [t] = load_checkpoint(checkpoint_root / "gru").translate([SENTENCE])
    page.fill("#source-text textarea", SENTENCE)
    page.click("#translate-button")
    wait_for_ticks(page, "#card-gru", t.src_tokens)
    page.wait_for_selector("#translate-download", state="visible", timeout=30_000)
    opacity = """() => { let e = document.querySelector('#card-gru .heatmap'), o = 1;
                   for (; e && e.id !== 'card-gru'; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
                   return o; }"""
    title = "() => getComputedStyle(document.querySelector('#card-gru .card-title h3'), '::after').content"

    def mark(state: str):
        box = page.query_selector("#card-gru .card-state-box")
        box.evaluate("(e, html) => { e.querySelector('.card-state').outerHTML = html; }", state)

    assert page.evaluate(opacity) == 1 and "translating" not in page.evaluate(title)
    mark(app.WAITING)
    assert page.evaluate(opacity) == pytest.approx(0.25) and "translating" in page.evaluate(title)
    assert page.is_visible("#card-gru")
    mark(app.HIDDEN)
    assert not page.is_visible("#card-gru") and page.is_visible("#card-transformer")
    mark(app.SHOWN)
    assert page.is_visible("#card-gru") and page.evaluate(opacity) == 1


def test_the_menus_are_closed_until_reset_for_the_new_sentence(page, checkpoint_root):
    """From the click until the menus are reset for the new sentence (after the last model) every card's menus are
    greyed and take no pointer (a choice would be shown on the old sentence's menus, or undone by the reset); then
    they are ready, the map menu back on each card's default map."""
    import app

    text = "Ein kleiner Hund rennt über die Wiese."
    page.fill("#source-text textarea", text)
    page.evaluate("""() => {       // the menus' states from now on, as the page shows them
        const box = document.querySelector('.menus-state-box'), seen = window.__menus = [];
        new MutationObserver(() => { const e = box.querySelector('.menus-state');
                                     if (e && seen[seen.length - 1] !== e.dataset.state) seen.push(e.dataset.state); })
            .observe(box, {childList: true, subtree: true, attributes: true}); }""")
    page.click("#translate-button")
    [t] = load_checkpoint(checkpoint_root / "gru").translate([text])
    wait_for_ticks(page, "#card-gru", t.src_tokens)
    page.wait_for_function("() => window.__menus.join() === 'pending,ready'", timeout=30_000)
    menus = """() => { const e = document.querySelector('#card-transformer .card-menus'), s = getComputedStyle(e);
                   return [Number(s.opacity), s.pointerEvents]; }"""
    page.wait_for_selector("#translate-download", state="visible", timeout=10_000)
    assert page.evaluate(menus) == [1, "auto"]
    page.click("#map-transformer input")                        # usable: its choices open
    page.wait_for_selector("[role=option]", timeout=10_000)
    page.keyboard.press("Escape")
    page.query_selector(".menus-state-box").evaluate(
        "(e, html) => { e.querySelector('.menus-state').outerHTML = html; }", app.MENUS_PENDING)
    page.wait_for_function("() => document.body.classList.contains('menus-pending')", timeout=5_000)
    assert page.evaluate(menus) == [pytest.approx(0.45), "none"]
    assert not page.is_visible("#translate-download")             # the old results' download, hidden meanwhile
    page.query_selector(".menus-state-box").evaluate(
        "(e, html) => { e.querySelector('.menus-state').outerHTML = html; }", app.MENUS_READY)
    page.wait_for_function("() => !document.body.classList.contains('menus-pending')", timeout=5_000)
    assert page.evaluate(menus) == [1, "auto"]


def test_an_empty_input_clears_the_cards_it_no_longer_describes(page, checkpoint_root):
    """Under "Type a German sentence" no card, reference or download of the sentence before is left; the next
    sentence brings every card back."""
    from seq2seq.explorer.examples import DEMO

    page.fill("#source-text textarea", DEMO)                    # a test sentence: its reference shows too
    page.click("#translate-button")
    [t] = load_checkpoint(checkpoint_root / "gru").translate([DEMO])
    wait_for_ticks(page, "#card-gru", t.src_tokens)
    # the cards come one by one as their models are done; the download with the last of them
    page.wait_for_selector("#translate-download", state="visible", timeout=30_000)
    assert page.is_visible("#reference")
    page.fill("#source-text textarea", "   ")
    page.click("#translate-button")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Type a German sentence')",
                           timeout=30_000)
    for arch in ARCHITECTURES:
        page.wait_for_selector(f"#card-{arch}", state="hidden", timeout=10_000)
    for gone in ("#reference", "#translate-download"):           # hidden as the request ends (finishing)
        page.wait_for_selector(gone, state="hidden", timeout=10_000)
    page.fill("#source-text textarea", SENTENCE)
    page.click("#translate-button")
    [t] = load_checkpoint(checkpoint_root / "gru").translate([SENTENCE])
    wait_for_ticks(page, "#card-gru", t.src_tokens)
    for arch in ARCHITECTURES:                                   # each card back as soon as its model is done
        page.wait_for_selector(f"#card-{arch}", state="visible", timeout=30_000)
    assert "Type a German sentence" not in page.inner_text("#status")
    page.wait_for_selector("#translate-download", state="visible", timeout=30_000)
    assert not page.locator(".card-state[data-state=waiting]").count()
