"""The whole-test-set comparison in a real browser: ``python app.py`` on the tiny checkpoints, each with test
outputs of the Multi30k slice (written by ``python -m seq2seq.compare``), in headless Chromium at a desk's width
and a phone's. The Compare tab's list of the sentences where two models differ, one of them clicked into
Compare (both maps along its reference) and Inspect; the Leaderboard's significance of every pair."""

from __future__ import annotations

import math

import pytest

from conftest import serve_app
from seq2seq.data import read_lines
from test_app_comparison import compared_root
from test_browser import ARGS, CHROMIUM, require_browser
from test_browser_layout import boxes, overlap, show_tab
from test_browser_views import wait_title

WIDTHS = (1440, 390)


@pytest.fixture(scope="module")
def root(checkpoint_root, data_dir, tmp_path_factory):
    require_browser()   # skip (or fail) before any work
    from seq2seq import ARCHITECTURES

    return compared_root(checkpoint_root, data_dir, tmp_path_factory.mktemp("compared") / "checkpoints",
                         list(ARCHITECTURES))


@pytest.fixture(scope="module")
def server(root, data_dir, tmp_path_factory):
    env = {"OMP_NUM_THREADS": "1", "SEQ2SEQ_DATA_DIR": str(data_dir)}     # the test sentences: the slice's
    with serve_app(root, tmp_path_factory.mktemp("server") / "app.log", env) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request, browser, server):
    page = browser.new_page(viewport={"width": request.param, "height": 900})
    page.goto(server)
    page.wait_for_selector("#translate-button", timeout=60_000)
    yield page
    page.close()


LABELS = r"""els => els.map(e => {
    const r = e.getBoundingClientRect(), t = e.getAttribute('transform') || '';
    const m = /rotate\(([-\d.]+)/.exec(t), at = /translate\(([-\d.]+)/.exec(t);
    return [r.left, r.top, r.right, r.bottom, m ? parseFloat(m[1]) : 0,
            (at ? parseFloat(at[1]) : 0) + (parseFloat(e.getAttribute('x')) || 0),
            parseFloat(getComputedStyle(e).fontSize)]; })"""


def label_clashes(page, selector: str) -> list:
    """Tick labels that cover one another. Level labels: their boxes overlap. Labels slanted alike (Plotly slants
    them where they do not fit level): parallel lines of text clash when their anchors lie closer, across the
    slant, than the font is tall (their boxes overlap however far apart they are)."""
    labels = [x for x in page.eval_on_selector_all(selector, LABELS) if x[2] > x[0] and x[3] > x[1]]
    level = [x[:4] for x in labels if x[4] == 0]
    clashes = [(a, b) for n, a in enumerate(level) for b in level[n + 1:] if overlap(a, b)]
    slanted = sorted((x for x in labels if x[4] != 0), key=lambda x: x[5])
    for a, b in zip(slanted, slanted[1:]):
        across = abs(b[5] - a[5]) * abs(math.sin(math.radians(a[4])))
        if a[4] != b[4] or across < 0.9 * a[6]:
            clashes.append((a, b))
    return clashes


def cell(page, row: int, column: int) -> str:
    return page.inner_text(f"#differences [data-testid='cell-{row}-{column}']").strip()


@pytest.mark.slow
def test_a_sentence_of_the_list_opens_in_compare_and_inspect(page, data_dir, tmp_path):
    sources = read_lines(data_dir / "test_2016_flickr.de.gz")
    references = read_lines(data_dir / "test_2016_flickr.en.gz")
    show_tab(page, "Compare")
    wait_title(page, "#compare-difference", "A − B")                  # the tab's own example, computed first
    page.click("#differences-metric label:has-text('sentence chrF')")
    page.wait_for_function("() => document.querySelector('#differences-status').innerText.includes('sentence chrF')",
                           timeout=30_000)
    page.wait_for_selector("#differences [data-testid='cell-0-4']", timeout=30_000)
    index = int(cell(page, 0, 0)) - 1
    assert cell(page, 0, 4) == sources[index] and cell(page, 0, 7) == references[index]
    page.click("#differences [data-testid='cell-0-4']")
    page.wait_for_function("s => document.querySelector('#compare-text textarea').value === s", arg=sources[index],
                           timeout=60_000)
    wait_title(page, "#compare-difference", "A − B")
    status = page.inner_text("#compare-status")
    assert "along the reference" in status
    assert page.is_checked("#compare-along input[value='reference']")
    assert f"Opened test sentence {index + 1}" in page.inner_text("#differences-status")
    page.screenshot(path=str(tmp_path / "compare-list.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'compare-list.png'}")
    show_tab(page, "Inspect")                                          # handed over, ready for Inspect
    assert page.input_value("#inspect-text textarea") == sources[index]
    assert page.input_value("#force-reference textarea") == references[index]
    assert f"Test sentence {index + 1}" in page.inner_text("#inspect-status")


@pytest.mark.slow
def test_the_leaderboard_tests_every_pair_legibly(page, tmp_path):
    show_tab(page, "Leaderboard")
    page.wait_for_selector("#significance-matrix .js-plotly-plot .heatmaplayer", timeout=60_000)
    cells = page.eval_on_selector("#significance-matrix .js-plotly-plot", "gd => gd.data[1].text")
    assert len(cells) == 6 and all(len(row) == 6 for row in cells)                 # all six models, each pair
    assert "of 15 pairs" in page.inner_text("#significance-summary")
    for plot in ("#significance-matrix", "#confidence-plot", "#length-buckets", "#rarest-buckets", "#word-accuracy"):
        assert boxes(page, f"{plot} .xtick text") and boxes(page, f"{plot} .ytick text"), f"{plot}: nothing drawn"
        for axis in ("x", "y"):
            assert not label_clashes(page, f"{plot} .{axis}tick text"), f"{plot}: {axis} tick labels overlap"
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, "the page scrolls sideways"
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'leaderboard.png'}")
