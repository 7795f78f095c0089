"""ALTI+ in the browser, at desk and phone widths: the Transformer's card switched to it (a map titled as
ALTI+, its plain sentence and numbers beneath), and Inspect's "source or prefix?" drawing it under integrated
gradients."""

from __future__ import annotations

import pytest

from conftest import chromium
from test_browser_views import choose, wait_title

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


@pytest.fixture(scope="module")
def server(app_url):
    return app_url


@pytest.mark.parametrize("width", [1440, 390])
def test_the_transformer_card_and_inspect_show_alti(server, width, tmp_path):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(server)
        page.wait_for_selector("#translate-button", timeout=60_000)
        card = "#card-transformer"                                   # the page opens with its example translated
        wait_title(page, f"{card} .heatmap", "cross-attention", timeout=120_000)
        choose(page, "#map-transformer", "ALTI+ contributions")
        wait_title(page, f"{card} .heatmap", "ALTI+ contributions", timeout=60_000)
        scale = page.eval_on_selector(f"{card} .heatmap .cbtitle", "e => e.textContent")
        assert scale.startswith("0–")                                # 0 to its largest cell, as saliency
        numbers = page.inner_text(f"{card} .map-stats")
        assert "The numbers" in numbers                              # its statistics, folded beneath the sentence
        page.locator(card).screenshot(path=str(tmp_path / f"alti-card-{width}.png"))

        page.get_by_role("tab", name="Inspect").click()
        page.fill("#inspect-text textarea", SENTENCE)
        choose(page, "#inspect-model", "transformer")
        if page.is_visible("#inspect-button"):
            page.click("#inspect-button")
        wait_title(page, "#inspect-steps", "step 1 of", timeout=120_000)
        assert not page.is_visible("#source-prefix-alti")            # drawn only when asked for
        page.click("#source-prefix-button")
        wait_title(page, "#source-prefix-plot", "integrated gradients over source and written words", timeout=120_000)
        wait_title(page, "#source-prefix-alti", "ALTI+ contributions of source and written words", timeout=60_000)
        assert "came from the source" in page.inner_text("#source-prefix-alti-text")
        page.locator("#source-prefix-alti").screenshot(path=str(tmp_path / f"alti-inspect-{width}.png"))
        print(f"screenshots: {tmp_path}")
