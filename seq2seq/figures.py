"""Plotly figures of where a model looks: one heatmap per choice of layer and head, and an
overview of every layer x head as small multiples.

A :class:`View` is one kind of map for one translation, always shaped
``[layers, heads, rows, columns]``:

    "cross"         rows: output tokens (+ <eos>)   columns: source tokens
    "decoder_self"  rows: output tokens (+ <eos>)   columns: the decoder's inputs <sos> y_1 .. y_{T-1}
    "encoder_self"  rows and columns: source tokens
    "saliency"      like "cross", gradient x input instead of attention (see ``saliency.py``)

Source columns are the source tokens only (models are fed no <sos>/<eos> on the source side);
rows are what the model wrote, ending with "<eos>" when it finished. Every figure uses the
same colour scale, 0 to 1, so maps of different models compare at a glance. Tokens are
HTML-escaped: Plotly renders some HTML in labels, and "<eos>" must show literally.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

COLORSCALE = "Blues"
HOVER_MAX_CELLS = 10_000   # bigger maps hover with positions only, to keep the figure small
KIND_NAMES = {
    "cross": "cross-attention",
    "encoder_self": "encoder self-attention",
    "decoder_self": "decoder self-attention",
    "saliency": "gradient × input saliency",
}


@dataclass
class View:
    kind: str
    weights: torch.Tensor      # [layers, heads, rows, columns]
    rows: list[str]
    columns: list[str]
    row_name: str              # what a row is, for hover text ("output", "query")
    column_name: str

    @property
    def layers(self) -> int:
        return self.weights.size(0)

    @property
    def heads(self) -> int:
        return self.weights.size(1)

    def select(self, layer: int | None = None, head: int | None = None) -> torch.Tensor:
        """[rows, columns]: one layer (None: the last) and one head (None: the mean of the heads)."""
        w = self.weights[self.layers - 1 if layer is None else layer]
        return w.mean(dim=0) if head is None else w[head]


def attention_view(translation, kind: str) -> View:
    """The ``kind`` attention of a :class:`~seq2seq.translator.Translation` as a View."""
    a = translation.attention[kind].float()
    outputs = translation.output_labels
    if kind == "encoder_self":                                   # [layers, heads, S, S]
        src = translation.src_tokens
        return View(kind, a, src, src, "query", "key")
    weights = a.permute(1, 2, 0, 3)                              # [T, layers, heads, N] -> [layers, heads, T, N]
    if kind == "decoder_self":                                   # row t attends to <sos> y_1 .. y_t
        return View(kind, weights, outputs, ["<sos>"] + outputs[:-1], "query", "key")
    return View(kind, weights, outputs, translation.src_tokens, "output", "source")


def saliency_view(translation, saliency: torch.Tensor) -> View:
    """A [T, S] saliency map (``saliency.translation_saliency``) as a one-layer, one-head View."""
    return View("saliency", saliency.float()[None, None], translation.output_labels, translation.src_tokens,
                "output", "source")


def escape(token: str) -> str:
    return html.escape(token, quote=False)


def _hover(view: View):
    """customdata [rows, columns, 2] of (row token, column token) and the template showing them."""
    if len(view.rows) * len(view.columns) > HOVER_MAX_CELLS:
        return None, (f"{view.row_name} %{{y}}<br>{view.column_name} %{{x}}<br>weight: %{{z:.3f}}"
                      "<extra></extra>")
    rows, cols = [escape(t) for t in view.rows], [escape(t) for t in view.columns]
    data = [[[r, c] for c in cols] for r in rows]
    template = (f"{view.row_name}: %{{customdata[0]}}<br>{view.column_name}: %{{customdata[1]}}"
                "<br>weight: %{z:.3f}<extra></extra>")
    return data, template


def _axes(view: View, font_size: int = 12, show_labels: tuple[bool, bool] = (True, True),
          x_side: str = "top") -> tuple[dict, dict]:
    """Axis settings: numeric positions labelled by token (repeated tokens stay separate columns)."""
    x = dict(tickmode="array", tickvals=list(range(len(view.columns))), ticktext=[escape(t) for t in view.columns],
             side=x_side, tickangle=-45, tickfont=dict(size=font_size), showticklabels=show_labels[0],
             showgrid=False, zeroline=False, constrain="domain")
    y = dict(tickmode="array", tickvals=list(range(len(view.rows))), ticktext=[escape(t) for t in view.rows],
             autorange="reversed", tickfont=dict(size=font_size), showticklabels=show_labels[1],
             showgrid=False, zeroline=False)
    return x, y


def heatmap(view: View, layer: int | None = None, head: int | None = None, title: str = "") -> go.Figure:
    """One map: source (or key) tokens across, output (or query) tokens down; hover shows both and the weight."""
    z = view.select(layer, head).round(decimals=4).tolist()
    customdata, template = _hover(view)
    fig = go.Figure(go.Heatmap(z=z, customdata=customdata, hovertemplate=template, colorscale=COLORSCALE,
                               zmin=0.0, zmax=1.0, xgap=1, ygap=1, colorbar=dict(thickness=10, len=0.8)))
    x, y = _axes(view)
    longest = max((len(t) for t in view.columns), default=1)
    fig.update_layout(title=dict(text=escape(title), font=dict(size=13), y=0.99, yanchor="top"), xaxis=x, yaxis=y,
                      height=int(80 + 5 * min(longest, 20) + 22 * max(len(view.rows), 4)),
                      margin=dict(l=10, r=10, b=10, t=int(45 + 5 * min(longest, 20))),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig


def overview(view: View, title: str = "") -> go.Figure:
    """Every layer (rows of the grid) x every head (columns) as small multiples on one colour scale."""
    titles = [f"L{l + 1} H{h + 1}" if view.heads > 1 else f"layer {l + 1}"
              for l in range(view.layers) for h in range(view.heads)]
    fig = make_subplots(rows=view.layers, cols=view.heads, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=min(0.08, 0.3 / view.layers))
    customdata, template = _hover(view)
    longest = max((len(t) for t in view.columns), default=1)
    for l in range(view.layers):
        for h in range(view.heads):
            z = view.weights[l, h].round(decimals=4).tolist()
            fig.add_trace(go.Heatmap(z=z, customdata=customdata, hovertemplate=template, coloraxis="coloraxis",
                                     xgap=1, ygap=1), row=l + 1, col=h + 1)
            x, y = _axes(view, font_size=8, show_labels=(l == view.layers - 1 and view.heads <= 2, h == 0),
                         x_side="bottom")
            fig.update_xaxes(x, row=l + 1, col=h + 1)
            fig.update_yaxes(y, row=l + 1, col=h + 1)
    fig.update_annotations(font_size=10)
    fig.update_layout(title=dict(text=escape(title), font=dict(size=13)),
                      coloraxis=dict(colorscale=COLORSCALE, cmin=0, cmax=1),
                      height=int(80 + 5 * min(longest, 20) * (view.heads <= 2)
                                 + view.layers * (40 + 12 * max(len(view.rows), 4))),
                      margin=dict(l=10, r=10, b=10, t=60), plot_bgcolor="white", paper_bgcolor="white")
    return fig
