"""ALTI+ in the browser, at desk and phone widths: the Transformer's card switched to it (a map titled as
ALTI+, its plain sentence and numbers beneath), and Inspect's "source or prefix?" drawing it under integrated
gradients."""

from __future__ import annotations

import pytest

from conftest import chromium, open_page
from test_browser_views import choose, inspect, wait_title


@pytest.mark.parametrize("width", [1440, 390])
def test_the_transformer_card_and_inspect_show_alti(app_url, width, tmp_path):
    with chromium() as browser:
        page = open_page(browser, app_url, width)
        card = "#card-transformer"                                   # the page opens with its example translated
        wait_title(page, f"{card} .heatmap", "cross-attention", timeout=120_000)
        choose(page, "#map-transformer", "ALTI+ contributions")
        wait_title(page, f"{card} .heatmap", "ALTI+ contributions", timeout=60_000)
        scale = page.eval_on_selector(f"{card} .heatmap .cbtitle", "e => e.textContent")
        assert scale.startswith("0–")                                # 0 to its largest cell, as saliency
        numbers = page.inner_text(f"{card} .map-stats")
        assert "The numbers" in numbers                              # its statistics, folded beneath the sentence
        page.locator(card).screenshot(path=str(tmp_path / f"alti-card-{width}.png"))

        inspect(page, "transformer")
        assert not page.is_visible("#source-prefix-alti")            # drawn only when asked for
        page.click("#source-prefix-button")
        wait_title(page, "#source-prefix-plot", "integrated gradients over source and written words", timeout=120_000)
        wait_title(page, "#source-prefix-alti", "ALTI+ contributions of source and written words", timeout=60_000)
        assert "came from the source" in page.inner_text("#source-prefix-alti-text")
        page.locator("#source-prefix-alti").screenshot(path=str(tmp_path / f"alti-inspect-{width}.png"))
        print(f"screenshots: {tmp_path}")
