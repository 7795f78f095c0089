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

from ..analysis.inspection import KIND_NAMES

COLORSCALE = "Blues"
HOVER_MAX_CELLS = 10_000   # bigger maps hover with positions only, to keep the figure small


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
        """[rows, columns]: one layer (None: the mean of the layers) and one head (None: the mean of the heads)."""
        w = self.weights.mean(dim=0) if layer is None else self.weights[layer]
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


def _hover(view: View, value_name: str = "weight"):
    """customdata [rows, columns, 2] of (row token, column token) and the template showing them."""
    if len(view.rows) * len(view.columns) > HOVER_MAX_CELLS:
        return None, (f"{view.row_name} %{{y}}<br>{view.column_name} %{{x}}<br>{value_name}: %{{z:.3f}}"
                      "<extra></extra>")
    rows, cols = [escape(t) for t in view.rows], [escape(t) for t in view.columns]
    data = [[[r, c] for c in cols] for r in rows]
    template = (f"{view.row_name}: %{{customdata[0]}}<br>{view.column_name}: %{{customdata[1]}}"
                f"<br>{value_name}: %{{z:.3f}}<extra></extra>")
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


def color_range(view: View, shown: torch.Tensor) -> tuple[tuple[float, float], str]:
    """The colour scale of a map and its colour bar's title. Attention weights: 0 to 1, so maps compare.
    Saliency spreads each row over every source word, so on 0-1 it looks blank: 0 to its largest cell."""
    if view.kind == "saliency":
        top = max(float(shown.max()), 1e-6) if shown.numel() else 1.0
        return (0.0, top), f"0–{top:.2f}"
    return (0.0, 1.0), "weight"


def heatmap(view: View, layer: int | None = None, head: int | None = None, title: str = "",
            colorscale=COLORSCALE, zrange: tuple[float, float] | None = None, value_name: str = "weight",
            scale_title: str | None = None) -> go.Figure:
    """One map: source (or key) tokens across, output (or query) tokens down; hover shows both and the weight.
    ``zrange`` None: the kind's own scale (``color_range``)."""
    shown = view.select(layer, head)
    if zrange is None:
        zrange, scale_title = color_range(view, shown)
    z = shown.round(decimals=4).tolist()
    customdata, template = _hover(view, value_name)
    fig = go.Figure(go.Heatmap(z=z, customdata=customdata, hovertemplate=template, colorscale=colorscale,
                               zmin=zrange[0], zmax=zrange[1], xgap=1, ygap=1,
                               colorbar=dict(thickness=10, len=0.8, title=dict(text=scale_title or "", side="right"))))
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


# ---------------------------------------------------------------------------- deeper views (the Inspect and Compare tabs)

DIVERGING = "PuOr"            # differences: orange below 0, white at 0, purple above (blue already means weight)
HIGHLIGHT, MUTED, EDGE = "#d62728", "#8fa8c8", "#c3cad3"


def map_view(kind: str, weights: torch.Tensor, rows: list[str], columns: list[str]) -> View:
    """A [T, S] map (``inspection.map_of``, a difference, a probe's alignment) as a one-layer, one-head View."""
    return View(kind, weights.float()[None, None], rows, columns, "output", "source")


def mark_forced(fig: go.Figure, n: int) -> go.Figure:
    """A dashed line under the first ``n`` rows of a heatmap: the words that were forced."""
    if n > 0:
        fig.add_hline(y=n - 0.5, line=dict(color=HIGHLIGHT, width=2, dash="dash"))
    return fig


def difference_heatmap(view: View, title: str = "") -> go.Figure:
    """A map of differences (A - B) on a diverging scale fitted symmetrically to the data, white at 0."""
    top = max(float(view.weights.abs().max()) if view.weights.numel() else 0.0, 0.05)
    return heatmap(view, title=title, colorscale=DIVERGING, zrange=(-top, top), value_name="A − B",
                   scale_title=f"A − B, ±{top:.2f}")


def message_figure(text: str, height: int = 120) -> go.Figure:
    """A figure that only says something (nothing to draw)."""
    fig = go.Figure()
    fig.add_annotation(text=escape(text), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", paper_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10))
    return fig


def _label_width(labels: list[str], font_size: int = 12) -> int:
    """Pixels for a column of tick labels: animated figures fix their margins, so frames do not shift."""
    return int(16 + 0.62 * font_size * min(max((len(w) for w in labels), default=1), 30))


def _animate(fig: go.Figure, frames: list[dict], labels: list[str], prefix: str, duration: int = 800,
             below: int = 0) -> go.Figure:
    """A play button and a slider over ``frames`` (dicts of "data" and "layout"), ``below`` pixels under
    the plot area. The frames travel inline in the buttons' and slider's arguments (``Plotly.animate``
    takes frame objects), so they need no registering (``gr.Plot`` passes only data, layout and config
    to Plotly); each frame also moves the slider, so it follows the play button."""
    for i, frame in enumerate(frames):
        frame["layout"] = {**frame.get("layout", {}), "sliders": [{"active": i}]}
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(mode="immediate", frame=dict(duration=duration, redraw=True), transition=dict(duration=0))
    buttons = [dict(label="▶ Play", method="animate", args=[frames, play]),
               dict(label="❚❚ Pause", method="animate", args=[[None], still])]
    steps = [dict(label=escape(label), method="animate", args=[[frame], still]) for frame, label in zip(frames, labels)]
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, buttons=buttons, x=0, y=0,
                          xanchor="left", yanchor="top", pad=dict(t=below + 45, r=10))],
        sliders=[dict(active=0, steps=steps, x=0.2, len=0.8, y=0, yanchor="top", pad=dict(t=below + 30),
                      currentvalue=dict(prefix=prefix, font=dict(size=12)), transition=dict(duration=0))])
    return fig


def stepper(steps, title: str = "") -> go.Figure:
    """Decoding step by step (an ``inspection.Steps``), one frame per word written: the map's rows so far,
    the current one outlined (where the model looked while writing it), beside the k most probable
    next words at that step, the one written in red. Play button and slider."""
    T, S = len(steps.rows), len(steps.src_tokens)
    if T == 0 or S == 0 or not steps.top_words:
        return message_figure("Nothing to show: the translation is empty.")
    view = map_view(steps.kind, steps.weights, steps.rows, steps.src_tokens)
    k = len(steps.top_words[0])
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.2,
                        subplot_titles=[escape(KIND_NAMES[steps.kind]), f"the {k} most probable next words"])
    customdata, template = _hover(view)
    z = steps.weights.float().round(decimals=4).tolist()                          # [T][S]

    def frame(t: int) -> dict:
        words, probs = list(steps.top_words[t]), list(steps.top_probs[t])
        if steps.written[t] not in words:                                        # written, though not in the top k
            words, probs = words + [steps.written[t]], probs + [steps.probs[t]]
        colours = [HIGHLIGHT if w == steps.written[t] else MUTED for w in words]
        rows = [z[r] if r <= t else [None] * S for r in range(T)]
        shown = f" (shown as “{steps.rows[t]}”)" if steps.rows[t] != steps.written[t] else ""
        text = f"step {t + 1} of {T}: wrote “{steps.written[t]}”{shown}, probability {steps.probs[t]:.2f}"
        return dict(name=str(t), data=[
            dict(type="heatmap", z=rows),
            dict(type="bar", orientation="h", x=[round(p, 4) for p in probs], y=list(range(len(words))),
                 marker=dict(color=colours), text=[f"{p:.2f}" for p in probs], textposition="outside",
                 customdata=[escape(w) for w in words], hovertemplate="%{customdata}: %{x:.3f}<extra></extra>"),
        ], layout={
            "title": {"text": escape(f"{title} · {text}" if title else text)},
            "yaxis": {"ticktext": [escape(w) if r <= t else "" for r, w in enumerate(steps.rows)]},
            "yaxis2": {"tickvals": list(range(len(words))), "ticktext": [escape(w) for w in words],
                       "range": [k + 0.5, -0.5]},
            "shapes": [dict(type="rect", xref="x", yref="y", x0=-0.5, x1=S - 0.5, y0=t - 0.5, y1=t + 0.5,
                            line=dict(color=HIGHLIGHT, width=2))],
        })

    frames = [frame(t) for t in range(T)]
    first = frames[0]
    fig.add_trace(go.Heatmap(z=first["data"][0]["z"], customdata=customdata, hovertemplate=template,
                             colorscale=COLORSCALE, zmin=0.0, zmax=1.0, xgap=1, ygap=1,
                             colorbar=dict(thickness=10, len=0.8, x=0.49, xanchor="left")), row=1, col=1)
    fig.add_trace(go.Bar(first["data"][1]), row=1, col=2)
    x, y = _axes(view)
    x.update(side="bottom")
    fig.update_xaxes(x, row=1, col=1)
    fig.update_yaxes(y, automargin=False, row=1, col=1)    # fixed margins: the frames' tick labels must not move
    fig.update_xaxes(range=[0, 1.15], title_text="probability", showgrid=True, row=1, col=2)
    fig.update_yaxes(tickmode="array", automargin=False, row=1, col=2)
    fig.update_layout(first["layout"])
    below = int(30 + 6 * min(max(len(w) for w in steps.src_tokens), 20))          # the slanted source words
    left = _label_width(steps.rows)
    fig.update_layout(title=dict(font=dict(size=13), y=0.99, yanchor="top"), showlegend=False,
                      height=int(200 + below + 22 * max(T, k + 1, 6)),
                      margin=dict(l=left, r=10, t=60, b=below + 110),
                      plot_bgcolor="white", paper_bgcolor="white")
    return _animate(fig, frames, [f"{t + 1} {w}" for t, w in enumerate(steps.rows)], "step ", below=below)


def beam_tree(nodes: list[dict], title: str = "") -> go.Figure:
    """The beam search tree (``inspection.beam_tree``): one row per step, the start on top, each kept
    word joined to the hypothesis it extends; squares end a hypothesis (<eos> or the length limit),
    "#r" marks the r-th of the n-best list, and the returned translation's path is red."""
    if not nodes:
        return message_figure("Nothing to show: the translation is empty.")
    position = {-1: 0.0}
    for step in sorted({n["step"] for n in nodes}):               # siblings under their parent, best first
        level = sorted((n for n in nodes if n["step"] == step), key=lambda n: (position[n["parent"]], -n["log_prob"]))
        for i, n in enumerate(level):
            position[n["id"]] = i - (len(level) - 1) / 2
    depth = max(n["step"] for n in nodes) + 1
    fig = go.Figure()
    for on_path, colour, width in ((False, EDGE, 1), (True, HIGHLIGHT, 3)):
        xs, ys = [], []
        for n in nodes:
            if n["winner"] == on_path:
                xs += [position[n["parent"]], position[n["id"]], None]
                ys += [n["step"] - 1, n["step"], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=colour, width=width), hoverinfo="skip"))
    hover = [f"{escape(n['word'])}<br>p(word) = {n['prob']:.3f}<br>log p(prefix) = {n['log_prob']:.2f}"
             + (f"<br>finished, score {n['score']:.3f}" if n["finished"] else "")
             + (f"<br>#{n['rank'] + 1} of the n-best" if n["rank"] is not None else "") for n in nodes]
    labels = [escape(n["word"]) + (f" #{n['rank'] + 1}" if n["rank"] is not None else "") for n in nodes]
    fig.add_trace(go.Scatter(
        x=[position[n["id"]] for n in nodes], y=[n["step"] for n in nodes], mode="markers+text", text=labels,
        textposition="top center", textfont=dict(size=11), hovertext=hover, hoverinfo="text",
        marker=dict(size=[12 if n["winner"] else 8 for n in nodes],
                    symbol=["square" if n["finished"] else "circle" for n in nodes],
                    color=[HIGHLIGHT if n["winner"] else MUTED for n in nodes], line=dict(width=0))))
    fig.add_trace(go.Scatter(x=[0], y=[-1], mode="markers+text", text=["&lt;sos&gt;"], textposition="top center",
                             marker=dict(size=10, color="black"), hoverinfo="skip"))
    widest = max(abs(v) for v in position.values())
    fig.update_layout(title=dict(text=escape(title), font=dict(size=13)), showlegend=False,
                      xaxis=dict(visible=False, range=[-widest - 0.8, widest + 0.8]),
                      yaxis=dict(autorange="reversed", title_text="step", tickmode="array",
                                 tickvals=list(range(depth)), ticktext=[str(s + 1) for s in range(depth)],
                                 showgrid=False, zeroline=False),
                      height=int(120 + 48 * (depth + 1)), margin=dict(l=10, r=10, t=50, b=10),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig


def epochs_figure(log: dict, probe: int, title: str = "") -> go.Figure:
    """How alignment emerged (a ``probes.json``): one probe sentence's cross-attention (mean of layers
    and heads) after each training epoch, with an epoch slider and a play button; the translation
    of each epoch in the title. Models without attention get a table of the translations instead."""
    epochs = [(e["epoch"], e["probes"][probe]) for e in log.get("epochs", []) if probe < len(e["probes"])]
    if not epochs:
        return message_figure("No epochs were recorded for this sentence.")
    if all(p["alignment"] is None for _, p in epochs):
        fig = go.Figure(go.Table(header=dict(values=["epoch", "translation (no attention to show)"]),
                                 cells=dict(values=[[e for e, _ in epochs], [escape(p["text"]) for _, p in epochs]]),
                                 columnwidth=[1, 8]))
        fig.update_layout(title=dict(text=escape(title), font=dict(size=13)), margin=dict(l=10, r=10, t=50, b=10),
                          height=int(120 + 26 * len(epochs)))
        return fig
    src = epochs[0][1]["src_tokens"]

    def frame(epoch: int, p: dict) -> dict:
        view = map_view("alignment", torch.tensor(p["alignment"] or [[0.0] * len(src)] * len(p["tokens"])),
                        p["tokens"], p["src_tokens"])
        customdata, template = _hover(view)
        text = f"epoch {epoch}: {p['text']}"
        return dict(name=str(epoch), data=[dict(type="heatmap", z=view.select().round(decimals=4).tolist(),
                                                customdata=customdata, hovertemplate=template)],
                    layout={"title": {"text": escape(f"{title} · {text}" if title else text)},
                            "yaxis": {"tickvals": list(range(len(p["tokens"]))),
                                      "ticktext": [escape(t) for t in p["tokens"]]}})

    frames = [frame(e, p) for e, p in epochs]
    last = len(frames) - 1                                          # open on the final epoch
    fig = go.Figure(go.Heatmap(frames[last]["data"][0], colorscale=COLORSCALE, zmin=0.0, zmax=1.0, xgap=1, ygap=1,
                               colorbar=dict(thickness=10, len=0.8)))
    x, y = _axes(View("alignment", torch.zeros(1, 1, 1, len(src)), [], src, "output", "source"))
    fig.update_layout(xaxis=x, yaxis={**y, "automargin": False})  # fixed margins: frames must not shift the map
    fig.update_layout(frames[last]["layout"])
    longest = max((len(t) for t in src), default=1)
    rows = max(len(p["tokens"]) for _, p in epochs)
    fig.update_layout(title=dict(font=dict(size=13), y=0.99, yanchor="top"), plot_bgcolor="white",
                      paper_bgcolor="white", height=int(200 + 5 * min(longest, 20) + 22 * max(rows, 4)),
                      margin=dict(l=_label_width([t for _, p in epochs for t in p["tokens"]]), r=10,
                                  t=int(50 + 5 * min(longest, 20)), b=110))
    fig = _animate(fig, frames, [str(e) for e, _ in epochs], "epoch ", duration=600)
    fig.layout.sliders[0].active = last
    return fig
