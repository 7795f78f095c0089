"""The logit lens and DecoderLens in Inspect, in the browser at desk and phone widths."""

from __future__ import annotations

import pytest

from conftest import chromium, open_page
from test_browser_views import inspect, wait_title


@pytest.mark.parametrize("width", [1440, 390])
def test_inspect_reads_every_decoder_layer_and_an_earlier_encoder_layer(app_url, width, tmp_path):
    with chromium() as browser:
        page = open_page(browser, app_url, width)
        inspect(page, "transformer")
        page.click("#lens-button")
        wait_title(page, "#lens-plot", "what each decoder layer would write", timeout=60_000)
        ticks = page.eval_on_selector_all("#lens-plot .ytick text", "els => els.map(e => e.textContent)")
        assert sorted(ticks) == ["layer 1", "layer 2"]
        page.click("#decoder-lens-button")
        page.wait_for_function("() => document.querySelector('#decoder-lens-text').innerText.includes('Encoder layer 1')",
                               timeout=60_000)
        wait_title(page, "#decoder-lens-plot", "reading encoder layer 1", timeout=60_000)
        page.locator("#lens-plot").screenshot(path=str(tmp_path / f"lens-{width}.png"))
        print(f"screenshot: {tmp_path / f'lens-{width}.png'}")
