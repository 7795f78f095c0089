"""The Inspect and Compare tabs in a real browser: ``python app.py`` on tiny random-weight
checkpoints (with a probes.json each), driven in headless Chromium like ``test_browser.py``.
For every architecture: the step-by-step animation's slider and play button, the what-if
continuation of a typed prefix, teacher forcing of a reference, the beam tree and the epochs
view; then picking another word at a step, the two-model difference view, and the PNG, SVG and
JSON downloads. Each fails if its figure does not render with the tokens the library computes."""

from __future__ import annotations

import json
import shutil

import pytest

from seq2seq import ARCHITECTURES, load_checkpoint
from seq2seq.analysis import inspection
from seq2seq.analysis.probes import record_probes
from seq2seq.papers import DISPLAY_NAMES
from conftest import serve_app
from test_browser import ARGS, CHROMIUM, require_browser

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
REFERENCE = "A man in an orange hat staring at something."


@pytest.fixture(scope="module")
def views_root(checkpoint_root, tmp_path_factory):
    """The tiny checkpoints, each with a probes.json of three epochs."""
    require_browser()  # skip (or fail) before any work
    root = tmp_path_factory.mktemp("views") / "checkpoints"
    shutil.copytree(checkpoint_root, root)
    for arch in ARCHITECTURES:
        translator = load_checkpoint(root / arch)
        for epoch in (1, 2, 3):
            record_probes(root / arch / "probes.json", translator, epoch)
    return root


@pytest.fixture(scope="module")
def server(views_root, tmp_path_factory):
    require_browser()
    with serve_app(views_root, tmp_path_factory.mktemp("server") / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        yield url


@pytest.fixture(scope="module")
def page(server):
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(server)
        page.wait_for_selector("#translate-button", timeout=60_000)
        yield page
        browser.close()


def title(page, plot: str) -> str:
    return page.eval_on_selector(f"{plot} .gtitle", "e => e.textContent")


def ticks(page, plot: str, axis: str = "y") -> list[str]:
    """The tick labels of a figure's first (or only) subplot."""
    return page.eval_on_selector_all(f"{plot} .subplot.xy .{axis}axislayer-above .{axis}tick text",
                                     "els => els.map(e => e.textContent)")


def wait_title(page, plot: str, *parts: str, timeout: int = 60_000):
    """Wait until the figure's title holds every part (the callback has answered and Plotly has drawn),
    ignoring white space: titles wrap to a phone's width, and Plotly joins their lines without a space."""
    page.wait_for_function("([sel, parts]) => { const t = document.querySelector(sel + ' .gtitle');"
                           " const flat = s => s.replace(/\\s/g, '');"
                           " return t && parts.every(p => flat(t.textContent).includes(flat(p))); }",
                           arg=[plot, list(parts)], timeout=timeout)


def choose(page, dropdown: str, label: str):
    """Pick an option by its label; a model by its name ("transformer"), which the menus show as "Transformer"."""
    label = DISPLAY_NAMES.get(label, label)
    page.click(f"{dropdown} input")
    page.click(f'[role=option][aria-label="{label}"]')


def click_rail(page, plot: str, where: float):
    """Click the animation slider's rail at a fraction of its length."""
    rail = page.query_selector(f"{plot} .slider-rail-touch-rect")
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    page.mouse.click(box["x"] + where * box["width"], box["y"] + box["height"] / 2)


# Whether the Inspect tab shows SENTENCE ("starrt", where the example has "anstarrt") decoded by the model ``arch``.
INSPECTED = ("arch => { const t = document.querySelector('#inspect-steps .gtitle');"
             " const x = [...document.querySelectorAll('#inspect-steps .xtick text')].map(e => e.textContent);"
             " return !!t && t.textContent.replace(/\\s/g, '').includes(arch + '·step1of') && x.includes('starrt'); }")


def inspect(page, arch: str):
    """Inspect SENTENCE with ``arch``. The tab opens on its example, inspected; then choosing another model is
    enough, since it re-runs every view on the sentence in the box (one model per inspection, never a mix)."""
    page.get_by_role("tab", name="Inspect").click()
    page.wait_for_selector("#inspect-steps .gtitle", timeout=60_000)          # the example, inspected on opening
    if not page.evaluate(INSPECTED, arch):
        page.fill("#inspect-text textarea", SENTENCE)
        if page.input_value("#inspect-model input") == DISPLAY_NAMES[arch]:
            page.click("#inspect-button")
        else:
            choose(page, "#inspect-model", arch)
        page.wait_for_function(INSPECTED, arg=arch, timeout=60_000)
    wait_title(page, "#inspect-steps", f"{arch} · step 1 of")
    for plot in ("#free-plot", "#beam-tree"):                                    # every view names the new model
        wait_title(page, plot, arch)
    page.wait_for_function("() => document.querySelector('#whatif-text').innerText.trim() === ''",
                           timeout=30_000)                                  # the last model's what-if is gone


def test_the_inspect_tab_opens_on_its_example_decoded(page):
    """Like Compare and Family, Inspect opens computed: the example sentence, step by step, with no button pressed."""
    page.get_by_role("tab", name="Inspect").click()
    wait_title(page, "#inspect-steps", "transformer · step 1 of")           # the last of the papers' models
    for plot in ("#free-plot", "#beam-tree", "#forced-plot"):
        page.wait_for_selector(f"{plot} .gtitle", timeout=60_000)
    assert "anstarrt" in ticks(page, "#inspect-steps", "x")                  # the example, not a sentence typed
    assert "Press Inspect" not in page.inner_text("#inspect-tab")
    assert page.input_value("#force-reference textarea")                     # its reference, forced


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_inspect_views_render_for_every_architecture(page, views_root, arch, tmp_path):
    translator = load_checkpoint(views_root / arch)
    [t] = translator.translate([SENTENCE])
    T = len(t.output_labels)
    inspect(page, arch)

    # Step by step: one slider step per word; the end of the rail shows the last word, every row revealed.
    steps = "#inspect-steps"
    assert page.eval_on_selector(f"{steps} .js-plotly-plot", "gd => gd.layout.sliders[0].steps.length") == T
    assert ticks(page, steps, "x") == t.src_tokens
    click_rail(page, steps, 1.0)
    wait_title(page, steps, f"step {T} of {T}")
    assert [w for w in ticks(page, steps) if w] == t.output_labels                  # "<eos>" literally
    outline, image = (page.query_selector(f"{steps} {s}").bounding_box() for s in (".shapelayer path",
                                                                                    ".heatmaplayer image"))
    assert abs(outline["x"] - image["x"]) < 8 and abs(outline["width"] - image["width"]) < 12   # on the map
    click_rail(page, steps, 0.0)
    wait_title(page, steps, f"step 1 of {T}")
    assert len([w for w in ticks(page, steps) if w]) == 1

    # What-if: a typed start of the output is forced, the model continues from it.
    page.fill("#whatif-prefix textarea", "two dogs")
    page.click("#whatif-button")
    wait_title(page, "#whatif-plot", arch, "the first 2 word(s) forced")
    expected = inspection.continue_from(translator, SENTENCE, ["two", "dogs"])
    assert ticks(page, "#whatif-plot")[:2] == ["two", "dogs"] and ticks(page, "#whatif-plot") == expected.output_labels

    # Teacher forcing the reference, beside the free-running map.
    page.fill("#force-reference textarea", REFERENCE)
    page.click("#force-button")
    wait_title(page, "#forced-plot", arch, "teacher-forced")
    assert ticks(page, "#forced-plot") == "a man in an orange hat staring at something . <eos>".split()
    assert ticks(page, "#free-plot") == t.output_labels

    # Beam search: the n-best table and the tree; the epochs view of probes.json.
    assert page.query_selector_all("#nbest tbody tr") and page.query_selector("#beam-tree .scatterlayer .point")
    if translator.has_attention:
        assert page.eval_on_selector("#epochs-plot .js-plotly-plot", "gd => gd.layout.sliders[0].steps.length") == 3
    else:
        assert "no attention" in page.text_content("#epochs-plot")
    shown = page.inner_text("#inspect-tab")           # each map's plain sentence shows; its numbers fold beneath it
    assert "Each English word" in shown or "Attention spreads almost evenly" in shown
    assert "diagonality" in page.text_content("#inspect-tab") and "entropy" in page.text_content("#inspect-tab")
    if arch == "transformer":
        page.query_selector("#inspect-tab").screenshot(path=str(tmp_path / "inspect.png"))
        print(f"screenshot: {tmp_path / 'inspect.png'}")


def test_play_button_animates_the_steps(page):
    inspect(page, "luong")
    click_rail(page, "#inspect-steps", 1.0)
    wait_title(page, "#inspect-steps", "wrote")
    page.click("#inspect-steps .updatemenu-button")                 # ▶ Play: from the first word on
    wait_title(page, "#inspect-steps", "step 2 of", timeout=20_000)
    active = page.eval_on_selector("#inspect-steps .js-plotly-plot", "gd => gd._fullLayout.sliders[0].active")
    assert active >= 1                                                # the slider follows the animation


def test_picking_another_word_at_a_step_continues_from_it(page, views_root):
    translator = load_checkpoint(views_root / "bahdanau")
    [t] = translator.translate([SENTENCE])
    steps = inspection.steps(translator, t)
    inspect(page, "bahdanau")
    word, p = steps.top_words[1][3], steps.top_probs[1][3]            # the fourth most probable at step 2
    choose(page, "#whatif-step", f"2: {steps.written[1]}")
    choose(page, "#whatif-word", f"{word} ({p:.2f})")
    wait_title(page, "#whatif-plot", "bahdanau", "the first 2 word(s) forced")
    assert "Error" not in page.inner_text("#inspect-tab")
    assert page.input_value("#whatif-prefix textarea") == f"{steps.written[0]} {word}"
    expected = inspection.continue_from(translator, SENTENCE, [steps.written[0], word])
    assert ticks(page, "#whatif-plot") == expected.output_labels


def test_difference_view_of_two_models(page, views_root):
    page.get_by_role("tab", name="Compare").click()
    wait_title(page, "#compare-difference", "A − B")                 # the tab opens on its example, unasked
    assert "Similarity" in page.inner_text("#compare-status")
    page.fill("#compare-text textarea", SENTENCE)
    choose(page, "#compare-a", "transformer")
    choose(page, "#compare-b", "gru")
    page.click("#compare-button")
    wait_title(page, "#compare-difference", "transformer − gru")
    [t] = load_checkpoint(views_root / "transformer").translate([SENTENCE])
    rows = t.raw_tokens + ["<eos>"]
    for plot in ("#compare-plot-a", "#compare-plot-b", "#compare-difference"):
        assert ticks(page, plot) == rows and ticks(page, plot, "x") == t.src_tokens
    assert "saliency" in title(page, "#compare-plot-b")
    status = page.inner_text("#compare-status")
    assert "Similarity" in status and "1.000" not in status
    low, high, scale, z = page.eval_on_selector("#compare-difference .js-plotly-plot",
                                                "gd => [gd.data[0].zmin, gd.data[0].zmax, gd.data[0].colorscale, gd.data[0].z]")
    top = max(abs(v) for row in z for v in row)
    assert low == pytest.approx(-top, abs=1e-3) and high == pytest.approx(top, abs=1e-3)   # diverging, fitted, symmetric
    assert scale[0][1] == "rgb(127,59,8)" and scale[-1][1] == "rgb(45,0,75)"                 # orange ... purple
    choose(page, "#compare-b", "transformer")                         # a model against itself
    page.click("#compare-button")
    wait_title(page, "#compare-difference", "transformer − transformer")
    assert "Similarity 1.000" in page.inner_text("#compare-status")
    with page.expect_download() as download:                          # written when pressed, of what is shown
        page.click("#compare-download")
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert download.value.suggested_filename.startswith("compare-transformer-transformer")
    assert data["similarity"] == pytest.approx(1.0) and data["models"]["a"]["name"] == "transformer"


def test_figures_download_as_png_and_svg_and_results_as_json(page):
    inspect(page, "convs2s")
    plot = "#inspect-steps .js-plotly-plot"
    page.hover(plot)
    for button, suffix in (("Download plot as SVG", ".svg"), ("Download plot as a PNG", ".png")):
        with page.expect_download() as download:
            page.click(f'#inspect-steps .modebar-btn[data-title="{button}"]')
        assert download.value.suggested_filename.endswith(suffix)
        head = open(download.value.path(), "rb").read(200)
        assert (b"<svg" in head) if suffix == ".svg" else head.startswith(b"\x89PNG")
    with page.expect_download() as download:
        page.click("#inspect-download")
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert data["model"] == "convs2s" and data["steps"] and len(data["steps"][0]["top"]) == 5
    assert set(data["translation"]["statistics"]) >= {"entropy", "diagonality", "monotonicity", "coverage"}
    assert data["beam"]["tree"] and data["translation"]["map"] == "cross"
