"""A Hugging Face model in the browser beside the classic ones, at desk and phone widths:
``python app.py --checkpoints DIR --hf-model SAVED_MARIAN --hf-model NOT/CACHED``. Its card shows the pieces
the model reads (ending with ``</s>``) and, after the Units switch, spaCy's words; Inspect decodes it step by
step; a model that cannot be loaded is named at the top of the page with its reason, and the rest are served."""

from __future__ import annotations

import shutil

import pytest

from conftest import serve_app
from seq2seq.data import tokenizer
from seq2seq.explorer.examples import DEMO
from seq2seq.translator import load_checkpoint
from test_browser import ARGS, CHROMIUM, require_browser
from test_browser_views import choose, wait_title

pytest.importorskip("transformers")

NAME = "opus-mt-tiny"
CARD = f"#card-{NAME}"


@pytest.fixture(scope="module")
def server(checkpoint_root, marian_dir, tmp_path_factory):
    require_browser()
    root = tmp_path_factory.mktemp("with-hf") / "checkpoints"
    for arch in ("gru", "transformer"):
        shutil.copytree(checkpoint_root / arch, root / arch)
    env = {"OMP_NUM_THREADS": "1", "HF_HOME": str(root.parent / "hf-cache"), "HF_HUB_OFFLINE": "1"}
    args = ("--hf-model", str(marian_dir), "--hf-model", "nobody/not-cached-here")
    with serve_app(root, root.parent / "app.log", env, args) as (_, url):
        yield url


def ticks(page, axis: str) -> list[str]:
    return page.eval_on_selector_all(f"{CARD} .heatmap .{axis}tick text", "els => els.map(e => e.textContent)")


@pytest.mark.parametrize("width", [1440, 390])
def test_a_hugging_face_card_beside_the_classic_ones(server, marian_dir, width, tmp_path):
    [t] = load_checkpoint(marian_dir).translate([DEMO])
    assert t.src_tokens[-1] == "</s>"
    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(server)
        page.wait_for_function(f"n => document.querySelectorAll('{CARD} .heatmap .xtick text').length === n",
                               arg=len(t.src_tokens), timeout=120_000)
        assert ticks(page, "x") == t.src_tokens                             # the pieces, as the model reads them
        errors = page.inner_text("#load-errors")
        assert "nobody/not-cached-here" in errors and "--download" in errors   # named, with the reason
        assert "&#" not in errors and errors.count("nobody/not-cached-here") == 1
        assert page.is_visible("#card-gru") and page.is_visible("#card-transformer")
        assert "marian" in page.inner_text(CARD).lower()
        page.locator(f"#units-{NAME}").get_by_text("words").click()
        words = [*tokenizer("de", False)(DEMO), "</s>"]                     # cased, as this model reads
        assert words != [*tokenizer("de")(DEMO), "</s>"]
        page.wait_for_function(f"want => JSON.stringify([...document.querySelectorAll('{CARD} .heatmap .xtick text')]"
                               ".map(e => e.textContent)) === JSON.stringify(want)", arg=words, timeout=60_000)
        page.locator(CARD).screenshot(path=str(tmp_path / f"hf-card-{width}.png"))
        print(f"screenshot: {tmp_path / f'hf-card-{width}.png'}")
        if width == 1440:                                                   # Inspect decodes it step by step
            page.get_by_role("tab", name="Inspect").click()
            page.fill("#inspect-text textarea", DEMO)
            choose(page, "#inspect-model", f"{NAME} (marian)")
            if page.is_visible("#inspect-button"):
                page.click("#inspect-button")
            wait_title(page, "#inspect-steps", NAME, "step 1 of", timeout=120_000)
            page.screenshot(path=str(tmp_path / "hf-inspect.png"), full_page=False)
        browser.close()
