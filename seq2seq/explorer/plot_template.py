"""The page's Plotly template: Plotly's default ("plotly") without what no figure here uses.

Every figure Gradio sends carries its template in its JSON. Plotly's default is about 7,100 characters, mostly
defaults of trace types the page never draws (3-D surfaces, maps, polar and ternary axes, contours, ...): half of
a card's heatmap, sent seven times a click. This template keeps the default's layout (fonts, colours, axes,
hover labels) and its defaults for the trace types the page draws (heatmap, bar, scatter, table), so every
figure looks the same, for about a quarter of the characters. Importing ``figures.py`` makes it the default.

One default is changed: tick labels may overflow (``ticklabeloverflow="allow"``, on the axes and colour bars). Plotly's default for numeric
axes ("hide past div") measures every tick label against every other each time one is placed, a layout of the page
per label pair: a fifth of the page's drawing time on a 12-word sentence and most of it on a 60-word one
(docs/benchmarks.md). The figures' margins are sized to their labels, so none overflows.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

NAME = "seq2seq"
TRACES = ("heatmap", "bar", "scatter", "table")             # the trace types the page's figures use
UNUSED_LAYOUT = ("geo", "mapbox", "polar", "scene", "ternary")   # 3-D scenes, maps, polar and ternary axes


def page_template() -> go.layout.Template:
    base = pio.templates["plotly"].to_plotly_json()
    layout = {k: v for k, v in base["layout"].items() if k not in UNUSED_LAYOUT}
    for axis in ("xaxis", "yaxis"):
        layout[axis] = {**layout.get(axis, {}), "ticklabeloverflow": "allow"}
    layout["coloraxis"] = {**layout["coloraxis"],
                           "colorbar": {**layout["coloraxis"]["colorbar"], "ticklabeloverflow": "allow"}}
    data = {k: v for k, v in base["data"].items() if k in TRACES}
    data["heatmap"] = [{**t, "colorbar": {**t["colorbar"], "ticklabeloverflow": "allow"}} for t in data["heatmap"]]
    return go.layout.Template(layout=layout, data=data)


def install() -> None:
    """Register the template and make it Plotly's default (figures made from now on use it)."""
    if NAME not in pio.templates:
        pio.templates[NAME] = page_template()
    pio.templates.default = NAME
