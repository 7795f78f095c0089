"""The page's Plotly template (``seq2seq.explorer.plot_template``): Plotly's default less what no figure here
draws, so every figure looks the same and its JSON, which Gradio sends with each figure, is smaller."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
import torch

import seq2seq.explorer  # noqa: F401  (installs the template)
from seq2seq.explorer.figures import heatmap, map_view
from seq2seq.explorer.plot_template import NAME, TRACES, UNUSED_LAYOUT


def test_figures_use_the_trimmed_template_with_the_defaults_they_need():
    assert pio.templates.default == NAME
    full, ours = pio.templates["plotly"].to_plotly_json(), pio.templates[NAME].to_plotly_json()
    # the same layout (fonts, colours, axes, hover labels) and trace defaults for what the page draws ...
    # ... but tick labels are not measured against each other (on the axes and the colour bars)
    layout, data = ours["layout"], ours["data"]
    for bar in (layout["xaxis"], layout["yaxis"], layout["coloraxis"]["colorbar"], data["heatmap"][0]["colorbar"]):
        assert bar.pop("ticklabeloverflow") == "allow"
    assert {k: v for k, v in full["layout"].items() if k not in UNUSED_LAYOUT} == layout
    assert {k: full["data"][k] for k in TRACES} == data
    # ... and nothing for 3-D scenes, maps, polar or ternary axes, or the trace types the page never draws
    assert not set(UNUSED_LAYOUT) & set(ours["layout"]) and set(ours["data"]) == set(TRACES)


def test_a_cards_map_carries_a_quarter_of_plotlys_template():
    view = map_view("cross", torch.softmax(torch.randn(8, 9), -1), [f"w{i}" for i in range(8)],
                    [f"s{i}" for i in range(9)])
    ours = json.loads(heatmap(view, title="a map").to_json())
    assert ours["layout"]["template"] == pio.templates[NAME].to_plotly_json()
    template_chars = len(json.dumps(ours["layout"]["template"]))
    assert template_chars < len(json.dumps(pio.templates["plotly"].to_plotly_json())) / 2
    # a figure made with Plotly's own template draws the same: only the template differs
    plain = go.Figure(heatmap(view, title="a map"))
    plain.update_layout(template="plotly")
    theirs = json.loads(plain.to_json())
    assert {k: v for k, v in ours["layout"].items() if k != "template"} == \
           {k: v for k, v in theirs["layout"].items() if k != "template"} and ours["data"] == theirs["data"]
