"""The page's figures laid out legibly at a desk (1440 px wide) and on a phone (390 px): ``python app.py``
on tiny random-weight checkpoints, driven in headless Chromium like ``test_browser.py``, with every check
made on the bounding boxes the browser draws: titles clear of Plotly's toolbar; the step-by-step view's
titles, colour bar, bar chart, play button and slider clear of each other; the overview's hover naming
layer and head; punctuation labels more than a speck; a 25-token map filling its card with column
labels that do not touch; beam-tree words clear of each other and of the winner's markers, with no
crossing edges; the epochs view saying why it starts late; the source-or-prefix figure's columns readable,
scrolled sideways on a phone; the Leaderboard's scores in view; the Compare tab's titles clear and in view;
the About tab's table with its words whole."""

from __future__ import annotations

import math
import shutil

import pytest

from seq2seq import ARCHITECTURES, load_checkpoint
from seq2seq.analysis.probes import record_probes
from seq2seq.papers import PAPER_ORDER, display_name
from conftest import serve_app
from test_browser import ARGS, CHROMIUM, require_browser

WIDTHS = (1440, 390)
SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
LONG = ("Eine Frau in einem roten Kleid und ein Mann mit einem blauen Hut gehen heute mit zwei Hunden über "
        "eine belebte Straße der Stadt.")                                              # 25 tokens
BOX = "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


@pytest.fixture(scope="module")
def layout_root(checkpoint_root, tmp_path_factory):
    """The tiny checkpoints with a probes.json each: epochs 1-3, but the Transformer's from epoch 3 on
    (as the shipped one: its first two epochs ran before train.py recorded probes)."""
    require_browser()
    root = tmp_path_factory.mktemp("layout") / "checkpoints"
    shutil.copytree(checkpoint_root, root)
    for arch in ARCHITECTURES:
        translator = load_checkpoint(root / arch)
        for epoch in ((3, 4) if arch == "transformer" else (1, 2, 3)):
            record_probes(root / arch / "probes.json", translator, epoch)
    return root


@pytest.fixture(scope="module")
def server(layout_root, tmp_path_factory):
    require_browser()
    with serve_app(layout_root, tmp_path_factory.mktemp("server") / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request, browser, server):
    """The page at one width, opened on the first example translated by every model."""
    page = browser.new_page(viewport={"width": request.param, "height": 900})
    page.goto(server)
    page.wait_for_selector("#card-transformer .heatmap .xtick text", timeout=60_000)
    yield page
    page.close()


def boxes(page, selector: str) -> list[list[float]]:
    """[left, top, right, bottom] of every element the selector matches that the browser draws."""
    return [b for b in page.eval_on_selector_all(selector, f"els => els.map({BOX})") if b[2] > b[0] and b[3] > b[1]]


def one_box(page, selector: str) -> list[float]:
    found = boxes(page, selector)
    assert found, f"nothing drawn for {selector}"
    return [min(b[0] for b in found), min(b[1] for b in found), max(b[2] for b in found), max(b[3] for b in found)]


def overlap(a, b, slack: float = 0.5) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def open_overview(page, arch: str):
    """Open a card's small multiples (an accordion, drawn when opened) and wait until they are drawn."""
    plot = f"#card-{arch} .overview .heatmaplayer"
    if not boxes(page, plot):
        page.click(f"#overview-{arch} button")
    page.wait_for_selector(plot, timeout=60_000)
    page.wait_for_timeout(300)


def show_tab(page, name: str):
    """Open a tab: from the tab bar, or on a phone, where the bar has no room for it, from its "More tabs" menu."""
    tab = page.get_by_role("tab", name=name)
    if tab.count():
        tab.click()
    else:
        page.click("button[aria-label='More tabs']")
        page.click(f".overflow-dropdown button:text-is('{name}')")
    page.wait_for_timeout(300)                                  # the tab's figures are drawn again as it shows


def inspect(page, arch: str = "transformer"):
    """Inspect SENTENCE with ``arch`` (once per page). The tab opens on its example, inspected with the last model
    (the Transformer): wait for that, then ask for SENTENCE ("starrt", where the example has "anstarrt")."""
    show_tab(page, "Inspect")
    page.wait_for_selector("#inspect-steps .gtitle", timeout=60_000)
    shown = "() => [...document.querySelectorAll('#inspect-steps .xtick text')].some(e => e.textContent === 'starrt')"
    if not page.evaluate(shown):
        page.fill("#inspect-text textarea", SENTENCE)
        if page.input_value("#inspect-model input") == display_name(arch):
            page.click("#inspect-button")
        else:                                                   # another model re-runs every view on the text
            page.click("#inspect-model input")
            page.click(f'[role=option][aria-label="{display_name(arch)}"]')
        page.wait_for_function(shown, timeout=60_000)
    for plot in ("#inspect-steps", "#beam-tree", "#epochs-plot", "#free-plot"):
        page.wait_for_selector(f"{plot} .gtitle", timeout=60_000)


def test_titles_are_clear_of_the_toolbar(page):
    """Plotly's toolbar (shown on hover at a desk, and on a phone) never lies over a figure's title."""
    show_tab(page, "Translate")
    for arch in ("convs2s", "transformer"):                     # the models with several maps a kind
        open_overview(page, arch)
    plots = [f"#card-{arch} .{kind}" for arch in ARCHITECTURES for kind in ("heatmap", "overview")]
    checked = []
    for tab, selectors in (("Translate", plots), ("Inspect", ["#inspect-steps", "#free-plot", "#beam-tree",
                                                               "#epochs-plot"])):
        if tab == "Inspect":
            inspect(page)
        for plot in selectors:
            if not boxes(page, f"{plot} .gtitle"):
                continue                                         # a hidden overview, a figure with no title
            page.hover(f"{plot} .js-plotly-plot")
            title, toolbar = one_box(page, f"{plot} .gtitle"), one_box(page, f"{plot} .modebar")
            assert not overlap(title, toolbar), f"{plot}: the toolbar {toolbar} covers the title {title}"
            checked.append(plot)
    assert len(checked) >= 12, checked                      # 6 maps, 2 overviews (convs2s, transformer), 4 views


def test_step_by_step_view_has_nothing_over_anything(page):
    """Its two titles, the source words, the colour bar, the bar chart, the play and pause buttons and
    the slider: no two overlap, on a phone as at a desk."""
    inspect(page)
    steps = "#inspect-steps"
    titles = [b for b, text in zip(boxes(page, f"{steps} .infolayer .annotation"),
                                   page.eval_on_selector_all(f"{steps} .infolayer .annotation",
                                                             "els => els.map(e => e.textContent)"))
              if "cross-attention" in text or "most probable" in text]
    assert len(titles) == 2
    parts = {"map title": titles[0], "bars title": titles[1], "title": one_box(page, f"{steps} .gtitle"),
             "source words": one_box(page, f"{steps} .xaxislayer-above .xtick text"),
             "colour bar": one_box(page, f"{steps} .colorbar"), "bar chart": one_box(page, f"{steps} .barlayer"),
             "bar words": one_box(page, f"{steps} .yaxislayer-above .y2tick text"),
             "buttons": one_box(page, f"{steps} .updatemenu-button"),
             "slider": one_box(page, f"{steps} .slider-container")}
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if {a, b} != {"bar words", "bar chart"}:            # the words label the bars, beside them
                assert not overlap(parts[a], parts[b]), f"{a} {parts[a]} overlaps {b} {parts[b]}"
    for button in boxes(page, f"{steps} .updatemenu-button"):
        for piece in boxes(page, f"{steps} .slider-container *"):
            assert not overlap(button, piece), f"play/pause {button} over the slider {piece}"


def test_overview_names_layer_and_head(page):
    """Hovering a small multiple names its layer, its head and both words; a model with one head a layer
    (ConvS2S) is "every layer", not "every layer × head"."""
    show_tab(page, "Translate")
    open_overview(page, "transformer")
    open_overview(page, "convs2s")
    overview = "#card-transformer .overview"
    page.query_selector(overview).scroll_into_view_if_needed()
    # the tiny Transformer has 2 layers of 4 heads: the fifth panel is layer 2, head 1
    drag = page.query_selector(f'{overview} .nsewdrag[data-subplot="x5y5"]')
    box = drag.bounding_box()
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 4, steps=4)
    page.wait_for_selector(f"{overview} .hovertext", timeout=10_000)
    hover = page.text_content(f"{overview} .hovertext")
    assert "layer 2" in hover and "head 1" in hover and "output:" in hover and "source:" in hover, hover
    assert "layer" in page.text_content(f"{overview} .gtitle") and "Head above" in page.text_content(
        f"{overview} .gtitle")                                             # how to see one head large
    conv = page.text_content("#card-convs2s .overview .gtitle")
    assert "every layer" in conv and "×" not in conv and "layer x head" not in conv, conv


def test_punctuation_labels_are_more_than_a_speck(page):
    """The "." column is labelled with a glyph of some size, and the map says its labels are lower-cased
    tokens (the translation above it is capitalised)."""
    show_tab(page, "Translate")
    card = "#card-transformer .heatmap"
    widths = page.eval_on_selector_all(f"{card} .xtick text", "els => Object.fromEntries(els.map(e => "
                                                              "[e.textContent, e.getBBox().width]))")
    assert "." in widths, widths
    assert widths["."] >= 5.5, f"the '.' label is {widths['.']:.1f} px wide"           # 3.3 px at 12 px
    assert "lower-cased" in page.text_content(f"{card} .infolayer")


def test_a_long_sentence_fills_its_card_with_labels_that_do_not_touch(page):
    """25 source tokens: the map spans most of its card, and neighbouring column labels (slanted, or upright
    when crowded) keep at least their font size apart."""
    show_tab(page, "Translate")
    page.fill("#source-text textarea", LONG)
    page.click("#translate-button")
    card = "#card-transformer .heatmap"
    page.wait_for_function("sel => document.querySelectorAll(sel + ' .xtick text').length === 25", arg=card,
                           timeout=60_000)
    page.wait_for_timeout(500)
    image, block = one_box(page, f"{card} .heatmaplayer image"), one_box(page, card)
    labels = page.eval_on_selector_all(f"{card} .xtick text", """els => els.map(e => {
        const m = (e.getAttribute('transform') || '').match(/rotate\\((-?[\\d.]+)/);
        return [parseFloat(getComputedStyle(e).fontSize), m ? parseFloat(m[1]) : 0]; })""")
    font, angle = labels[0]
    pitch = (image[2] - image[0]) / 25
    gap = pitch * abs(math.sin(math.radians(angle))) if angle else pitch
    assert font >= 9, f"labels shrunk to {font} px"
    assert gap >= font, f"labels {pitch:.1f} px apart at {angle}°, {gap:.1f} px between lines of {font} px text"
    assert image[2] - image[0] >= 0.82 * (block[2] - block[0]), f"the map {image} in its card {block}"
    page.fill("#source-text textarea", SENTENCE)                      # as the other tests expect it
    page.click("#translate-button")
    page.wait_for_function("sel => document.querySelectorAll(sel + ' .xtick text').length === 10", arg=card,
                           timeout=60_000)


def _crossing(a, b) -> bool:
    """Do two edges between the same two steps cross (their order at one end differs from the other)?"""
    (ax0, ax1), (bx0, bx1) = a, b
    return (ax0 - bx0) * (ax1 - bx1) < 0


def test_beam_tree_words_are_clear_and_edges_do_not_cross(page):
    """With a beam of 10, each word of the beam tree stands clear of the others and of the winner's
    markers; edges keep their order from one step to the next."""
    inspect(page)
    tree = "#beam-tree"
    if "beam size 10" not in page.text_content(f"{tree} .gtitle"):          # the widest beam the slider allows
        beam = page.query_selector("#inspect-beam input[type=range]")
        beam.scroll_into_view_if_needed()
        beam.fill("10")
        beam.dispatch_event("pointerup")
        page.wait_for_function("() => document.querySelector('#beam-tree .gtitle').textContent"
                               ".includes('beam size 10')", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('#beam-tree .infolayer .annotation, #beam-tree "
                           ".scatterlayer .textpoint').length > 5", timeout=30_000)   # drawn again as its tab shows
    page.wait_for_timeout(300)
    words = boxes(page, f"{tree} .infolayer .annotation") + boxes(page, f"{tree} .scatterlayer .textpoint")
    assert len(words) > 5
    for i, a in enumerate(words):
        for b in words[i + 1:]:
            assert not overlap(a, b, slack=1), f"beam tree words overlap: {a} {b}"
    data = page.eval_on_selector(f"{tree} .js-plotly-plot", "gd => gd.data.map(t => [t.x, t.y, t.marker && "
                                                           "t.marker.size])")
    winners = boxes(page, f"{tree} .scatterlayer .trace:nth-child(3) .point")
    sizes = data[2][2]
    big = [b for b, size in zip(winners, sizes) if size == 12]                          # the winner's markers
    assert big
    for marker in big:
        for word in words:
            assert not overlap(marker, word, slack=1), f"a word {word} over a winner's marker {marker}"
    edges: dict[int, list[tuple[float, float]]] = {}
    for x, y, _ in data[:2]:                                                             # grey edges, red path
        for i in range(0, len(x), 3):
            edges.setdefault(y[i + 1], []).append((x[i], x[i + 1]))
    for step, pairs in edges.items():
        for i, a in enumerate(pairs):
            for b in pairs[i + 1:]:
                assert not _crossing(a, b), f"edges {a} and {b} into step {step + 1} cross"


def test_epochs_view_says_why_it_starts_late(page):
    """The Transformer's probes.json starts at epoch 3: the view says the first epochs ran before probes
    were recorded, and the section's caption says how that happens."""
    inspect(page)
    title = page.text_content("#epochs-plot .gtitle")
    assert "starts at epoch 3" in title and "epochs 1–2" in title and "resumed" in title, title
    assert "--resume" in page.inner_text("#inspect-tab") and "starts at epoch 3" in page.inner_text("#inspect-tab")


def test_examples_scroll_sideways_on_a_phone(page):
    """At 390 px each list of examples is one row (it was 700 px of buttons above the first card); at a desk the
    buttons wrap as before."""
    heights = page.eval_on_selector_all("#source-text ~ * .gallery, .gallery",
                                        "els => els.map(e => e.getBoundingClientRect().height)")
    assert len(heights) >= 2
    if page.viewport_size["width"] < 640:
        assert all(h < 50 for h in heights), heights
        assert page.eval_on_selector("#card-bahdanau", "e => e.getBoundingClientRect().top + window.scrollY") < 1000
    else:
        assert max(heights) > 60, heights


def test_source_or_prefix_cells_stay_readable_and_scroll_sideways_on_a_phone(page):
    """The source-or-prefix figure puts 10 source and 10-odd prefix columns and a share strip side by side: on a
    phone they were 8 px columns under labels that ran into each other. Each column keeps 20 px and more, the
    panel names stay clear of each other, and where the screen is narrower the figure scrolls sideways."""
    inspect(page)
    page.click("#source-prefix-button")
    page.wait_for_selector("#source-prefix-plot .gtitle", timeout=60_000)
    page.wait_for_timeout(300)
    panels = page.eval_on_selector("#source-prefix-plot .js-plotly-plot", """gd => {
        const images = [...gd.querySelectorAll('.heatmaplayer image')].map(i => i.getBoundingClientRect().width);
        return gd.data.filter(t => t.type === 'heatmap').map((t, i) => [images[i], t.z[0].length]); }""")
    assert len(panels) == 2 and all(n > 1 for _, n in panels), panels
    assert all(width / n >= 20 for width, n in panels), f"columns {[round(w / n, 1) for w, n in panels]} px wide"
    names = [one_box(page, f'#source-prefix-plot .annotation-text[data-unformatted="{name}"]')
             for name in ("source words", "words already written", "share")]
    assert not any(overlap(a, b) for i, a in enumerate(names) for b in names[i + 1:]), names
    client, scroll = page.eval_on_selector("#source-prefix-plot", "e => [e.clientWidth, e.scrollWidth]")
    if page.viewport_size["width"] < 640:
        assert scroll > client, "the figure is cut off, not scrolled"
    else:
        assert scroll <= client + 1, "at a desk the figure fits"


def test_leaderboard_shows_the_scores_beside_the_names(page):
    """The scores come first, in view beside the model names at either width (at a desk the table was 2,263 px
    wide and its scores off screen); the faithfulness measures are a second table whose columns all fit at a desk."""
    show_tab(page, "Leaderboard")
    width = page.viewport_size["width"]

    def header(table: str, text: str) -> list[float]:
        return one_box(page, f'#{table} th:has-text("{text}")')

    model, bleu = header("leaderboard", "model"), header("leaderboard", "BLEU beam 5")
    assert model[2] <= bleu[0] + 1 and bleu[2] <= width, f"BLEU beam 5 at {bleu} in a page {width} px wide"
    comp = header("trust", "comp@20% attention")
    assert comp[0] < width, f"the first faithfulness column starts off screen, at {comp}"
    if width >= 1000:
        assert header("trust", "AER IG")[2] <= width


def test_compare_tab_titles_are_clear_and_in_view(page):
    """The Compare tab's three maps at either width: each title clear of the toolbar and inside the page, the
    difference on a diverging scale."""
    show_tab(page, "Compare")
    page.fill("#compare-text textarea", SENTENCE)
    page.click("#compare-button")
    page.wait_for_selector("#compare-difference .gtitle", timeout=60_000)
    page.wait_for_timeout(300)
    width = page.viewport_size["width"]
    for plot in ("#compare-plot-a", "#compare-plot-b", "#compare-difference"):
        page.hover(f"{plot} .js-plotly-plot")
        title, toolbar = one_box(page, f"{plot} .gtitle"), one_box(page, f"{plot} .modebar")
        assert not overlap(title, toolbar), f"{plot}: the toolbar {toolbar} covers the title {title}"
        assert title[0] >= 0 and title[2] <= width, f"{plot}: the title {title} runs off a page {width} px wide"
    low, high = page.eval_on_selector("#compare-difference .js-plotly-plot", "gd => [gd.data[0].zmin, gd.data[0].zmax]")
    assert low == -high and high > 0



def test_about_table_keeps_its_words_whole(page):
    """The About tab's table of the attention family: no word in it is broken across lines (on a phone it broke
    "produc / t" and "Bahdan / au"); where it is wider than the screen it scrolls sideways."""
    show_tab(page, "About")
    table = ".prose table"
    page.wait_for_selector(table)
    broken = page.eval_on_selector_all(f"{table} :is(td, th)", """cells => cells.flatMap(cell => {
        const out = [], walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node; (node = walk.nextNode());) {
            if (node.parentElement.closest('.katex')) continue;          // formulas are laid out by KaTeX
            for (const m of node.data.matchAll(/[^\\s-]+/g)) {        // a break after a hyphen is fine
                const r = document.createRange();
                r.setStart(node, m.index);
                r.setEnd(node, m.index + m[0].length);
                if ([...r.getClientRects()].filter(x => x.width > 0).length > 1) out.push(m[0]);
            }
        }
        return out; })""")
    assert broken == [], f"words broken across lines: {broken}"
    client, scroll, right = page.eval_on_selector(table, "e => [e.clientWidth, e.scrollWidth, e.getBoundingClientRect().right]")
    assert right <= page.viewport_size["width"] and (scroll <= client + 1 or page.viewport_size["width"] < 640)
    show_tab(page, "Translate")


def test_cards_come_in_the_order_of_the_papers(page):
    """LSTM and GRU (2014), Bahdanau and Luong (2015), ConvS2S and the Transformer (2017): left to right, then top
    to bottom at a desk (two cards a row), one under another on a phone; each titled with its paper."""
    show_tab(page, "Translate")
    cards = page.eval_on_selector_all(".model-card[id^=card-]", f"els => els.map(e => [e.id, ({BOX})(e), "
                                      "e.querySelector('h3') && e.querySelector('h3').textContent])")
    drawn = [(name.removeprefix("card-"), box, title) for name, box, title in cards if box[2] > box[0]]
    reading = sorted(drawn, key=lambda c: (round(c[1][1]), c[1][0]))          # as a person reads: rows, then columns
    assert [name for name, *_ in reading] == list(PAPER_ORDER)
    titles = [title for *_, title in reading]
    assert titles == ["LSTM — Sutskever et al. 2014", "GRU — Cho et al. 2014", "Bahdanau — Bahdanau et al. 2015",
                      "Luong — Luong et al. 2015", "ConvS2S — Gehring et al. 2017", "Transformer — Vaswani et al. 2017"]
    if page.viewport_size["width"] == 1440:                                   # two a row: LSTM beside GRU, ...
        tops = [round(box[1]) for _, box, _ in reading]
        assert tops[0] == tops[1] < tops[2] == tops[3] < tops[4] == tops[5]
    else:                                                                     # one a row
        assert all(a[1][3] <= b[1][1] + 1 for a, b in zip(reading, reading[1:]))


def test_card_maps_are_laid_out_once_with_room_for_their_row_labels(page):
    """Each card's map is drawn with a left margin that already fits its row labels: Plotly's automargin, which
    widens a margin its labels do not fit and then draws the whole figure again (every card, every click), has
    nothing to add; and every row label lies inside the figure."""
    maps = page.eval_on_selector_all(".model-card .heatmap .js-plotly-plot", """els => els
        .filter(g => g.offsetParent !== null && g._fullLayout)
        .map(g => ({card: g.closest('.model-card').id, asked: g.layout.margin.l, drawn: g._fullLayout._size.l,
                    left: g.getBoundingClientRect().left,
                    labels: [...g.querySelectorAll('.ytick text')].map(e => e.getBoundingClientRect().left)}))""")
    assert len(maps) == len(ARCHITECTURES)
    for m in maps:
        assert m["drawn"] == m["asked"], m["card"]
        assert m["labels"] and min(m["labels"]) >= m["left"], m["card"]
