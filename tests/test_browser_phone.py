"""The page on a phone (390 px) and at a desk (1440 px), in headless Chromium on tiny checkpoints with a
family/ folder (so all six tabs exist): after Translate a phone is brought to the first card (a desk stays
where it is); every tab sits in the tab bar, visible and one tap away, with no "More tabs" menu; a figure that
scrolls sideways says so (a fade and a "swipe sideways" line above it) and the small multiples say "tap or hover"."""

from __future__ import annotations

import shutil

import pytest

from conftest import serve_app, tiny_family
from seq2seq.models import ARCHITECTURES
from test_browser import ARGS, CHROMIUM, require_browser

WIDTHS = (390, 1440)
TABS = ["Translate", "Inspect", "Compare", "Family", "Leaderboard", "About"]
SENTENCE = "Zwei Hunde spielen im Schnee."
OTHER = "Ein Mann fährt mit dem Fahrrad eine Straße entlang."
THIRD = "Eine Frau liest ein Buch im Park."


@pytest.fixture(scope="module")
def root(checkpoint_root, vocabs, tmp_path_factory):
    """The six tiny architectures and a family/ of two tiny members (the Family tab)."""
    require_browser()
    root = tmp_path_factory.mktemp("phone")
    for arch in ARCHITECTURES:
        shutil.copytree(checkpoint_root / arch, root / arch)
    tiny_family(root / "family", vocabs)
    return root


@pytest.fixture(scope="module")
def server(root, tmp_path_factory):
    with serve_app(root, tmp_path_factory.mktemp("server") / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request, browser, server):
    page = browser.new_page(viewport={"width": request.param, "height": 844})
    page.goto(server)
    page.wait_for_selector("#card-lstm .heatmap .xtick text", timeout=120_000)
    yield page
    page.close()


def to_top(page):
    """Scroll to the top as a person does, with the wheel (the page stops keeping its card at the top then)."""
    page.mouse.move(5, 60)
    page.mouse.wheel(0, -100_000)
    page.wait_for_function("() => window.scrollY === 0")


def first_card_top(page) -> float:
    return page.eval_on_selector("#card-lstm", "e => e.getBoundingClientRect().top")


def translate(page, text: str, how: str = "click"):
    """Type ``text``, press Translate (or Enter) and wait until the first card's map has new column labels."""
    before = page.eval_on_selector_all("#card-lstm .heatmap .xtick text", "els => els.map(e => e.textContent)")
    page.fill("#source-text textarea", text)
    if how == "click":
        page.click("#translate-button")
    else:
        page.press("#source-text textarea", "Enter")
    page.wait_for_function("""before => {
        const got = [...document.querySelectorAll('#card-lstm .heatmap .xtick text')].map(e => e.textContent);
        return got.length && JSON.stringify(got) !== JSON.stringify(before); }""", arg=before, timeout=120_000)


CARD_TOPS = """() => [document.getElementById('card-lstm').getBoundingClientRect().top,
                      document.querySelector('#card-lstm .translation').getBoundingClientRect().top]"""
CARD_AT_TOP = f"""h => {{ const [card, text] = ({CARD_TOPS})(); return Math.abs(card) <= 4 && 0 <= text && text < h; }}"""

SHRINKS_AS_IT_SCROLLS = """() => { const shim = document.createElement('div'); shim.style.height = '60px';
    document.getElementById('status').before(shim);
    addEventListener('scroll', () => setTimeout(() => shim.remove(), 100), {once: true}); }"""


def test_after_translate_a_phone_shows_the_first_card(page):
    page.evaluate("() => window.scrollTo(0, 0)")
    height = page.viewport_size["height"]
    assert first_card_top(page) > 0
    for text, how in ((SENTENCE, "click"), (OTHER, "enter")):
        to_top(page)
        if how == "click" and page.viewport_size["width"] < 640:
            # something above the card shrinks as the page scrolls (as the status line's progress can end late on a
            # loaded machine): the smooth scroll's end was fixed before, so the card must be put back at the top
            page.evaluate(SHRINKS_AS_IT_SCROLLS)
        translate(page, text, how)
        # the page scrolls once every card is in (cards stream in; on a loaded machine the last can be seconds later)
        page.wait_for_function("() => !document.querySelector('.card-state[data-state=waiting]')", timeout=120_000)
        if page.viewport_size["width"] < 640:
            # the smooth scroll ends within a second or two: the card's top is then at the top of the screen and its
            # translation on it (read in one go: a scroll between two reads would mislead)
            page.wait_for_function(CARD_AT_TOP, arg=height, timeout=10_000)
            # and it stays there as the last messages land (the status line's progress ending, the menus' reset)
            page.wait_for_timeout(1500)
            assert page.evaluate(CARD_AT_TOP, height), (how, page.evaluate(CARD_TOPS))
        else:                                       # at a desk the page stays where the person left it
            page.wait_for_timeout(1500)
            assert page.evaluate("() => window.scrollY") == 0, how


def test_a_phone_left_where_its_person_scrolled(page):
    """The page puts the first card back at the top for a few seconds after its scroll (a late change above it
    would push it off), but not once the person has scrolled themselves."""
    if page.viewport_size["width"] >= 640:
        pytest.skip("a desk is never scrolled")
    height = page.viewport_size["height"]
    to_top(page)
    translate(page, THIRD)
    page.wait_for_function(CARD_AT_TOP, arg=height, timeout=120_000)
    page.wait_for_timeout(1000)     # (Chromium drops a wheel that comes as its smooth scroll ends)
    page.mouse.move(5, 60)
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => document.getElementById('card-lstm').getBoundingClientRect().top > 200")
    page.wait_for_timeout(1500)
    assert page.evaluate(CARD_TOPS)[0] > 200


# the page's requests to the models held back 1.5 s (Gradio's client joins the queue with fetch): time to scroll
HOLD_THE_QUEUE = """() => { const fetch = window.fetch; window.__fetch = fetch;
    window.fetch = (url, options) => String(url).includes("queue/join")
        ? new Promise(done => setTimeout(done, 1500)).then(() => fetch(url, options)) : fetch(url, options); }"""


def test_a_phone_that_scrolls_while_the_models_work_is_not_pulled_to_the_card(page):
    if page.viewport_size["width"] >= 640:
        pytest.skip("a desk is never scrolled")
    to_top(page)
    before = page.eval_on_selector_all("#card-lstm .heatmap .xtick text", "els => els.map(e => e.textContent)")
    page.evaluate(HOLD_THE_QUEUE)
    try:
        page.fill("#source-text textarea", "Ein Hund rennt über eine Wiese.")     # a sentence no other test uses
        page.click("#translate-button")
        page.mouse.move(5, 300)
        page.mouse.wheel(0, 150)                        # the person reads on meanwhile
        page.wait_for_function("() => window.scrollY >= 100")
        page.wait_for_function("""before => {
            const got = [...document.querySelectorAll('#card-lstm .heatmap .xtick text')].map(e => e.textContent);
            return got.length && JSON.stringify(got) !== JSON.stringify(before)
                && !document.querySelector('.card-state[data-state=waiting]')
                && !document.querySelector('.menus-state[data-state=pending]'); }""", arg=before, timeout=120_000)
        page.wait_for_timeout(2500)                     # when the page would have scrolled, and kept the card
        assert 100 <= page.evaluate("() => window.scrollY") <= 200
    finally:
        page.evaluate("() => { window.fetch = window.__fetch; }")


def test_every_tab_is_in_the_bar_one_tap_away(page):
    page.evaluate("() => window.scrollTo(0, 0)")
    width = page.viewport_size["width"]
    assert page.locator("button[aria-label='More tabs']").filter(visible=True).count() == 0
    tabs = page.get_by_role("tab")
    assert [t.strip() for t in tabs.all_inner_texts()] == TABS
    for name in TABS:
        tab = page.get_by_role("tab", name=name, exact=True)
        box = tab.bounding_box()
        assert box and box["width"] > 0 and 0 <= box["x"] and box["x"] + box["width"] <= width + 1, (name, box)
        assert box["height"] >= 24, (name, box)                 # big enough to tap
        tab.click()
        page.wait_for_function("n => [...document.querySelectorAll('[role=tab]')].some("
                               "t => t.textContent.trim() === n && t.getAttribute('aria-selected') === 'true')",
                               arg=name, timeout=10_000)
    page.get_by_role("tab", name="Translate", exact=True).click()
    page.wait_for_selector("#card-lstm .heatmap .xtick text", state="visible", timeout=30_000)


def test_small_multiples_say_tap_and_show_that_they_scroll(page):
    page.get_by_role("tab", name="Translate", exact=True).click()
    plot = "#card-transformer .overview .heatmaplayer"
    page.click("#overview-transformer button")
    page.wait_for_selector(plot, timeout=60_000)
    title = page.text_content("#card-transformer .overview .gtitle")
    assert "tap or hover a cell" in title, title
    box = "#card-transformer .block.overview"
    if page.viewport_size["width"] < 640:
        page.wait_for_function("s => document.querySelector(s).classList.contains('scrolls-sideways')", arg=box,
                               timeout=5_000)
        mask = page.eval_on_selector(box, "e => getComputedStyle(e).maskImage || getComputedStyle(e).webkitMaskImage")
        hint = page.eval_on_selector(box, "e => getComputedStyle(e, '::before').content")
        assert "gradient" in mask and "swipe sideways" in hint, (mask, hint)
        page.eval_on_selector(box, "e => { e.scrollLeft = e.scrollWidth; }")       # scrolled to its end: no fade
        page.wait_for_function("s => document.querySelector(s).classList.contains('scrolled-end')", arg=box,
                               timeout=5_000)
    else:                                           # at a desk the figure fits: nothing to say
        assert not page.eval_on_selector(box, "e => e.classList.contains('scrolls-sideways')")


def test_a_figure_is_laid_out_once_per_draw_and_again_when_its_box_changes(page):
    """Gradio calls Plots.resize after every draw: skipped when the box has the figure's size (page_head.html),
    done when it has not (a turned phone, a narrower window)."""
    size = page.viewport_size
    card = "#card-lstm .heatmap .js-plotly-plot"
    assert page.evaluate("() => window.Plotly.Plots.resize.skipsSameSize === true")
    fits = f"""() => {{ const gd = document.querySelector('{card}');
        return Math.abs(parseFloat(getComputedStyle(gd).width) - gd._fullLayout.width) <= 1; }}"""
    assert page.evaluate(fits)
    before = page.eval_on_selector(card, "gd => gd._fullLayout.width")
    # narrower: a phone's card narrows, a desk's cards stack one a row and widen; either way the box changes
    page.set_viewport_size({"width": int(size["width"] * 0.7), "height": size["height"]})
    try:
        page.wait_for_function(f"() => Math.abs(document.querySelector('{card}')._fullLayout.width - {before}) > 20",
                               timeout=10_000)
        page.wait_for_function(fits, timeout=10_000)            # drawn again at the box's new width
    finally:
        page.set_viewport_size(size)
        page.wait_for_function(fits, timeout=10_000)
