"""Plotly figures of where a model looks: one heatmap per choice of layer and head, and an
overview of every layer x head as small multiples.

What is drawn is a :class:`~seq2seq.analysis.maps.View`: one kind of map of one translation (the registry's,
``maps.py``), shaped ``[layers, heads, rows, columns]``, with its row and column tokens. Source columns are the
source tokens only (models are fed no <sos>/<eos> on the source side); rows are what the model wrote, ending
with "<eos>" when it finished. Each kind of map has one colour-scale rule in every view (``maps.scale_rule``):
attention 0 to 1, so maps of different models compare at a glance; saliency 0 to its largest cell;
attributions symmetric about 0, on their own diverging scale. Tokens are HTML-escaped: Plotly renders some
HTML in labels, and "<eos>" must show literally.
"""

from __future__ import annotations

import html
import re
import textwrap

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..analysis.maps import SIGNED_KINDS, View, map_view, scale_range, scale_rule
from .plot_template import install as install_plot_template

install_plot_template()   # every figure carries a template trimmed to what the page draws (plot_template.py)

COLORSCALE = "Blues"
# Signed attributions: magenta lowered the word's log-probability, white 0, green raised it (blue already
# means attention weight, and purple-orange a difference of two maps).
SIGNED_SCALE = [[0.0, "#c51b7d"], [0.25, "#e9a3c9"], [0.5, "#f7f7f7"], [0.75, "#a1d76a"], [1.0, "#4d9221"]]
HOVER_MAX_CELLS = 10_000   # bigger maps hover with positions only, to keep the figure small


WORDS_NOTE = "words: a column sums its pieces, a row averages them"


def escape(token: str) -> str:
    return html.escape(token, quote=False)


# A word the model did not write: it wrote <unk>, and Translator.replace_unk copied the source word it attended to
# most. Its row label is underlined in a colour of its own, as the word is in the card's translation (a mark that
# adds no width: an arrow after each label took the map's room on a phone), its hover says why, the title notes it.
COPIED_COLOR, COPIED_MARK = "#a63603", "<u>"
COPIED_NOTE = "underlined rows: copied from the source, where the model wrote <unk> (a word it does not know)"


def row_label(token: str, copied: bool = False) -> str:
    """A row's tick label: the token, HTML-escaped; a copied word underlined in its own colour."""
    if not copied:
        return escape(token)
    return f'<span style="color:{COPIED_COLOR}"><u>{escape(token)}</u></span>'


def row_labels(tokens: list[str], copied=()) -> list[str]:
    copied = set(copied)
    return [row_label(t, i in copied) for i, t in enumerate(tokens)]


def _hover(view: View, value_name: str = "weight"):
    """customdata [rows, columns, 2] of (row token, column token) and the template showing them."""
    if len(view.rows) * len(view.columns) > HOVER_MAX_CELLS:
        return None, (f"{view.row_name} %{{y}}<br>{view.column_name} %{{x}}<br>{value_name}: %{{z:.3f}}"
                      "<extra></extra>")
    rows, cols = [escape(t) for t in view.rows], [escape(t) for t in view.columns]
    for i in view.copied:
        if i < len(rows):
            rows[i] += " (copied from the source: the model wrote &lt;unk&gt;)"
    data = [[[r, c] for c in cols] for r in rows]
    template = (f"{view.row_name}: %{{customdata[0]}}<br>{view.column_name}: %{{customdata[1]}}"
                f"<br>{value_name}: %{{z:.3f}}<extra></extra>")
    return data, template


# ---------------------------------------------------------------------------- layout shared by every figure
# Figures are as wide as their box on the page (a 300 px phone column up to a 1200 px desk), so what must
# fit is sized for the narrowest: titles wrap, colour bars lie under the map (not beside it, where they took
# a quarter of a phone's width), and tick labels turn upright and shrink (never below 9 px) as tokens crowd.
# Plotly's toolbar gets a strip of its own above each figure (page.css), so it never covers a title.

TITLE_CHARS = 44          # characters of a 13 px title line that fit a phone-wide figure (about 300 px)
TITLE_LINE = 17           # px per line of a title (Plotly spaces lines at 1.3 x the 13 px font, notes too)
NOTE_STYLE = "font-size:11px;color:#666"
COLORBAR_BAND = 46        # px under the plot area for a horizontal colour bar and its ticks
NOTE_BAND = 18            # px for a one-line note above the colour bar
ROW_PX = 22               # px per row of a map


def _wrap(text: str, width: int = TITLE_CHARS) -> list[str]:
    """``text`` in lines of at most ``width`` characters (a longer word gets a line of its own), broken
    after " · ", ": " or ", " where a line must end, else between words."""
    lines, line = [], ""
    for chunk in re.split(r"(?<=[·:,]) ", text):
        for word in (chunk.split(" ") if len(chunk) > width else [chunk]):
            candidate = f"{line} {word}" if line else word
            if len(candidate) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
    return lines + [line] if line else lines


def _title(text: str, notes: tuple[str, ...] = (), size: int = 13) -> tuple[dict, int]:
    """A title wrapped to a phone's width, left-aligned at the top of the figure, then ``notes`` in small
    grey lines; with the pixels it takes (the figure's top margin starts with them)."""
    lines = [escape(line) for line in _wrap(text)]
    small = [f'<span style="{NOTE_STYLE}">{escape(line)}</span>' for note in notes for line in _wrap(note, 52)]
    if not lines and not small:
        return dict(text=""), 8
    title = dict(text="<br>".join(lines + small), font=dict(size=size), x=0, xref="container", xanchor="left",
                 y=1, yref="container", yanchor="top", pad=dict(l=8, t=_title_pad(len(lines) + len(small))))
    return title, int(10 + TITLE_LINE * (len(lines) + len(small)))


def _title_pad(lines: int) -> int:
    """The title's top padding: Plotly lifts a title of several lines about 9 px more than one of one line,
    so both start 3 px under the figure's top edge."""
    return 6 if lines <= 1 else 15


def _colorbar(title: str | None, pad: int = 4) -> dict:
    """A colour bar lying under the plot area, at the figure's bottom left, so the map keeps the width."""
    return dict(orientation="h", thickness=10, lenmode="pixels", len=170, x=0, xanchor="left", y=0, yref="container",
                yanchor="bottom", ypad=pad, tickfont=dict(size=10), title=dict(text=title or "", side="right",
                                                                               font=dict(size=11)))


def _tick_size(n: int) -> int:
    """Tick labels shrink as tokens crowd (with Plotly turning them upright when slanted ones would touch)."""
    return 12 if n <= 16 else 11 if n <= 20 else 10 if n <= 28 else 9


def _label_height(labels: list[str], font_size: int, upright: bool = False) -> int:
    """Pixels for a row of slanted (or upright) tick labels; Plotly's automargin adds any that is missing."""
    longest = min(max((len(t) for t in labels), default=1), 24)
    return int(8 + 0.6 * font_size * longest * (1.0 if upright else 0.72))


def _lowercase_note(tokens: list[str]) -> str | None:
    """What to say when every token is lower-case (the models' vocabularies are): the page shows
    translations capitalised, but the map's labels are the tokens as the model read and wrote them."""
    if any(t != t.lower() for t in tokens if not (t.startswith("<") and t.endswith(">"))):
        return None
    if not any(c.isalpha() for t in tokens for c in t):
        return None
    return "tokens as the model sees them: lower-cased"


def _note(text: str) -> dict:
    """A small grey line just under the plot area (above the colour bar: NOTE_BAND of the bottom margin)."""
    return dict(text=escape(text), x=0, xref="paper", xanchor="left", y=0, yref="paper", yanchor="top", yshift=-3,
                showarrow=False, font=dict(size=11, color="#666"))


def _axes(view: View, font_size: int = 12, show_labels: tuple[bool, bool] = (True, True),
          x_side: str = "top") -> tuple[dict, dict]:
    """Axis settings: numeric positions labelled by token (repeated tokens stay separate columns). Column
    labels slant at 45° and turn upright where slanted ones would touch."""
    x = dict(tickmode="array", tickvals=list(range(len(view.columns))), ticktext=[escape(t) for t in view.columns],
             side=x_side, autotickangles=[-45, -90], tickfont=dict(size=font_size),
             showticklabels=show_labels[0], showgrid=False, zeroline=False, constrain="domain")
    y = dict(tickmode="array", tickvals=list(range(len(view.rows))), ticktext=row_labels(view.rows, view.copied),
             autorange="reversed", tickfont=dict(size=font_size), showticklabels=show_labels[1],
             showgrid=False, zeroline=False)
    return x, y


def color_range(view: "View | str", shown: torch.Tensor) -> tuple[tuple[float, float], str]:
    """The colour range of a map of this kind (a View, or its kind) by ``scale_rule``, and its colour bar's
    title."""
    kind = view if isinstance(view, str) else view.kind
    low, high = scale_range(kind, shown)
    rule = scale_rule(kind)
    title = f"Δ log p, ±{high:.2f}" if rule == "signed" else f"0–{high:.2f}" if rule == "magnitude" else "weight"
    return (low, high), title


def scale_notes(kinds: tuple[str, str], maps: tuple[torch.Tensor, torch.Tensor]) -> tuple[str, str] | None:
    """Two maps shown side by side (Compare): a note for each when their colour ranges differ (saliency
    0-0.28 beside attention 0-1), so no one reads equal shades as equal values; None when they agree."""
    (lo_a, hi_a), _ = color_range(kinds[0], maps[0])
    (lo_b, hi_b), _ = color_range(kinds[1], maps[1])
    if (round(lo_a, 2), round(hi_a, 2)) == (round(lo_b, 2), round(hi_b, 2)):
        return None
    a, b = f"{lo_a:.2g}–{hi_a:.2g}", f"{lo_b:.2g}–{hi_b:.2g}"
    return (f"scales differ: this map's colours run {a}, B's {b} (compare patterns, not shades)",
            f"scales differ: this map's colours run {b}, A's {a} (compare patterns, not shades)")


def heatmap(view: View, layer: int | None = None, head: int | None = None, title: str = "",
            colorscale=COLORSCALE, zrange: tuple[float, float] | None = None, value_name: str = "weight",
            scale_title: str | None = None, notes: tuple[str, ...] = ()) -> go.Figure:
    """One map: source (or key) tokens across, output (or query) tokens down; hover shows both and the weight.
    ``zrange`` None: the kind's own scale (``color_range``)."""
    shown = view.select(layer, head)
    if zrange is None:
        zrange, scale_title = color_range(view, shown)
        if view.kind in SIGNED_KINDS:
            colorscale, value_name = SIGNED_SCALE, "attribution"
        elif view.kind == "saliency":
            value_name = "saliency"
    z = shown.round(decimals=4).tolist()
    customdata, template = _hover(view, value_name)
    trace = dict(type="heatmap", z=z, customdata=customdata, hovertemplate=template, colorscale=colorscale,
                 zmin=zrange[0], zmax=zrange[1], xgap=1, ygap=1, colorbar=_colorbar(scale_title))
    font = _tick_size(len(view.columns))
    x, y = _axes(view, font_size=font)
    head, title_px = _title(title, tuple(notes) + ((COPIED_NOTE,) if view.copied else ()))
    note = _lowercase_note(view.rows + view.columns)
    top = title_px + _label_height(view.columns, font, upright=len(view.columns) > 16)
    bottom = COLORBAR_BAND + (NOTE_BAND if note else 0)
    layout = dict(title=head, xaxis=x, yaxis=y, height=int(top + bottom + ROW_PX * max(len(view.rows), 4)),
                  margin=dict(l=_row_label_margin(y["ticktext"], font), r=10, b=bottom, t=top),
                  plot_bgcolor="white", paper_bgcolor="white", annotations=[_note(note)] if note else [])
    # one call with the whole figure: Plotly's update_layout and add_annotation took 3-4 times as long (each card's
    # map, every click)
    return go.Figure(dict(data=[trace], layout=layout))


OVERVIEW_COLUMNS = 4      # heads side by side; a layer with more wraps onto further rows


def overview(view: View, title: str = "") -> go.Figure:
    """Every layer x every head as small multiples on one colour scale: each layer a block headed "layer l"
    of up to four heads a row, source labels under each block, output labels beside each row (a model with
    one head a layer, ConvS2S: its layers two a row); hovering a cell names its layer, head and both tokens."""
    one_head = view.heads == 1
    if one_head:                                # no heads to speak of (ConvS2S: one attention per layer)
        title = title.replace("every layer × head", "every layer").replace("every layer x head", "every layer")
        cols = min(view.layers, 2)
        blocks = [(None, [(l, 0, f"layer {l + 1}") for l in range(view.layers)])]
    else:
        cols = min(view.heads, OVERVIEW_COLUMNS)
        blocks = [(f"layer {l + 1}", [(l, h, f"head {h + 1}") for h in range(view.heads)])
                  for l in range(view.layers)]
    per_block = -(-len(blocks[0][1]) // cols)                   # grid rows a block takes
    rows = len(blocks) * per_block
    T = max(len(view.rows), 3)
    labels = _label_height(view.columns, 9, upright=True)
    heading, panel_title, panel, gap = (0 if one_head else 20), 16, 12 * T, 10
    # the grid top to bottom in pixels: [a block's heading], (panel titles, panels) x its rows, source labels
    spans, headings, y = {}, [], 0
    for b, (name, _) in enumerate(blocks):
        headings.append((name, y))
        y += heading
        for r in range(per_block):
            y += panel_title
            spans[b * per_block + r] = (y, y + panel)
            y += panel
        y += labels + gap
    P = y - gap
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.03 if cols > 1 else 0.0, vertical_spacing=0.0)
    customdata, template = _hover(view)
    for name, at in headings:
        if name:
            fig.add_annotation(text=name, x=0, xref="paper", xanchor="left", y=1 - at / P, yref="paper",
                               yanchor="top", showarrow=False, font=dict(size=12, weight="bold"))
    for b, (_, panels) in enumerate(blocks):
        for i, (l, h, name) in enumerate(panels):
            r, c = b * per_block + i // cols, i % cols
            where = f"layer {l + 1}" if one_head else f"layer {l + 1} · head {h + 1}"
            z = view.weights[l, h].round(decimals=4).tolist()
            fig.add_trace(go.Heatmap(z=z, customdata=customdata, hovertemplate=f"{where}<br>{template}",
                                     coloraxis="coloraxis", xgap=1, ygap=1), row=r + 1, col=c + 1)
            last = i + cols >= len(panels)                      # nothing under it in its block: label it
            xaxis, yaxis = _axes(view, font_size=9, show_labels=(last, c == 0), x_side="bottom")
            top, bottom = spans[r]
            fig.update_xaxes(xaxis, row=r + 1, col=c + 1)
            fig.update_yaxes(yaxis, tickfont=dict(size=10), domain=[1 - bottom / P, 1 - top / P], row=r + 1,
                             col=c + 1)
            domain = fig.get_subplot(r + 1, c + 1).xaxis.domain
            fig.add_annotation(text=name, x=(domain[0] + domain[1]) / 2, xref="paper", xanchor="center",
                               y=1 - top / P, yref="paper", yanchor="bottom", showarrow=False, font=dict(size=11))
        for i in range(len(panels), per_block * cols):           # a block's last row may not be full
            r, c = b * per_block + i // cols, i % cols
            fig.update_xaxes(visible=False, row=r + 1, col=c + 1)
            fig.update_yaxes(visible=False, domain=[1 - spans[r][1] / P, 1 - spans[r][0] / P], row=r + 1,
                             col=c + 1)
    pick = "Layer" if one_head else "Layer and a Head"
    tip = f"tap or hover a cell: its layer, head and words · pick a {pick} above to see one large"
    head, title_px = _title(title, (tip,))
    (low, high), scale_title = color_range(view, view.weights)            # attention: 0-1 (scale_rule)
    fig.update_layout(title=head, coloraxis=dict(colorscale=COLORSCALE, cmin=low, cmax=high,
                                                 colorbar=_colorbar(scale_title)),
                      height=int(title_px + P + COLORBAR_BAND + 10),
                      margin=dict(l=10, r=10, b=COLORBAR_BAND + 10, t=title_px), plot_bgcolor="white",
                      paper_bgcolor="white", dragmode=False)                # on a phone a swipe scrolls it (page.css)
    return fig


# ---------------------------------------------------------------------------- deeper views (the Inspect and Compare tabs)

DIVERGING = "PuOr"            # differences: orange below 0, white at 0, purple above (blue already means weight)
HIGHLIGHT, MUTED, EDGE = "#d62728", "#8fa8c8", "#c3cad3"


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


MESSAGE_CHARS = 46       # a message figure's line: fits a phone's 326 px card at 12 px (Plotly does not wrap text)


def message_figure(text: str, height: int = 120) -> go.Figure:
    """A figure that only says something (nothing to draw), in lines short enough for a phone."""
    lines = textwrap.wrap(text, MESSAGE_CHARS) or [""]
    fig = go.Figure()
    fig.add_annotation(text="<br>".join(escape(line) for line in lines), x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False)
    fig.update_layout(height=max(height, 40 + 18 * len(lines)), xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", paper_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10))
    return fig


# Widths of characters in ems, by class (Plotly's font falls back to the browser's sans-serif: these bound the common
# ones, Open Sans, Verdana, DejaVu Sans, Arial, measured on tick labels in Chromium), for a margin that fits the labels.
_NARROW, _WIDE = set("fijlrtI!|.,:;'()[]`"), set("mwMW▁@%")


def _text_px(text: str, font_size: int) -> float:
    """About how wide ``text`` is drawn at ``font_size`` px (a little more, rather than less)."""
    return font_size * sum(0.34 if c in _NARROW else 0.86 if c in _WIDE else 0.72 if c.isupper() or not c.isascii()
                           else 0.58 for c in text)


def _row_label_margin(labels: list[str], font_size: int) -> int:
    """The left margin a map's row labels take: Plotly's automargin would push a smaller one out to this and draw
    the figure a second time (each card's map, every click); a label the estimate misses still gets its room."""
    plain = [html.unescape(re.sub(r"<[^>]*>", "", t)) for t in labels]
    return int(12 + max((_text_px(t, font_size) for t in plain), default=0))


def _label_width(labels: list[str], font_size: int = 12) -> int:
    """Pixels for a column of tick labels: animated figures fix their margins, so frames do not shift."""
    return int(16 + 0.62 * font_size * min(max((len(w) for w in labels), default=1), 30))


CONTROLS = 128            # px under a figure for the play and pause buttons and, below them, the slider


def _animate(fig: go.Figure, frames: list[dict], labels: list[str], prefix: str, duration: int = 800,
             below: int = 0) -> go.Figure:
    """A play button and a slider over ``frames`` (dicts of "data" and "layout"), ``below`` pixels under
    the plot area: the buttons first, the slider on a row of its own beneath them (CONTROLS pixels in all),
    so neither covers the other on a phone. The frames travel inline in the buttons' and slider's arguments
    (``Plotly.animate`` takes frame objects), so they need no registering (``gr.Plot`` passes only data,
    layout and config to Plotly); each frame also moves the slider, so it follows the play button."""
    for i, frame in enumerate(frames):
        frame["layout"] = {**frame.get("layout", {}), "sliders": [{"active": i}]}
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(mode="immediate", frame=dict(duration=duration, redraw=True), transition=dict(duration=0))
    buttons = [dict(label="▶ Play", method="animate", args=[frames, play]),
               dict(label="❚❚ Pause", method="animate", args=[[None], still])]
    steps = [dict(label=escape(label), method="animate", args=[[frame], still]) for frame, label in zip(frames, labels)]
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, buttons=buttons, x=0, y=0,
                          xanchor="left", yanchor="top", pad=dict(t=below + 10, r=10))],
        sliders=[dict(active=0, steps=steps, x=0, len=1, y=0, yanchor="top", pad=dict(t=below + 52, l=0, r=10),
                      currentvalue=dict(prefix=prefix, font=dict(size=12)), font=dict(size=10),
                      transition=dict(duration=0))])
    return fig


def stepper(steps, title: str = "") -> go.Figure:
    """Decoding step by step (an ``inspection.Steps``), one frame per word written: the map's rows so far,
    the current one outlined (where the model looked while writing it), and under it the k most probable
    next words at that step, the one written in red. Play button and slider. Stacked, not side by side,
    so a phone's width holds both (and their titles)."""
    T, S = len(steps.rows), len(steps.src_tokens)
    if T == 0 or S == 0 or not steps.top_words:
        return message_figure("Nothing to show: the translation is empty.")
    copied = [t for t, (row, w) in enumerate(zip(steps.rows, steps.written)) if w == "<unk>" and row != w]
    view = map_view(steps.kind, steps.weights, steps.rows, steps.src_tokens, copied)
    zrange, scale_title = color_range(view, view.select())       # the kind's own scale, as on the cards
    labels_shown = row_labels(steps.rows, copied)
    k = len(steps.top_words[0])
    fig = make_subplots(rows=2, cols=1)
    customdata, template = _hover(view)
    z = steps.weights.float().round(decimals=4).tolist()                          # [T][S]

    def heading(t: int) -> str:
        shown = f" (shown as “{steps.rows[t]}”)" if steps.rows[t] != steps.written[t] else ""
        if t in copied:
            shown = f", shown as “{steps.rows[t]}”, the source word it looked at most"
        return (f"{title} · " if title else "") + (f"step {t + 1} of {T}: wrote “{steps.written[t]}”{shown}, "
                                                   f"probability {steps.probs[t]:.2f}")

    def frame(t: int) -> dict:
        words, probs = list(steps.top_words[t]), list(steps.top_probs[t])
        if steps.written[t] not in words:                                        # written, though not in the top k
            words, probs = words + [steps.written[t]], probs + [steps.probs[t]]
        colours = [HIGHLIGHT if w == steps.written[t] else MUTED for w in words]
        rows = [z[r] if r <= t else [None] * S for r in range(T)]
        return dict(name=str(t), data=[
            dict(type="heatmap", z=rows),
            dict(type="bar", orientation="h", x=[round(p, 4) for p in probs], y=list(range(len(words))),
                 marker=dict(color=colours), text=[f"{p:.2f}" for p in probs], textposition="outside",
                 customdata=[escape(w) for w in words], hovertemplate="%{customdata}: %{x:.3f}<extra></extra>"),
        ], layout={
            "title": {"text": _title(heading(t))[0]["text"]},
            "yaxis": {"ticktext": [w if r <= t else "" for r, w in enumerate(labels_shown)]},
            "yaxis2": {"tickvals": list(range(len(words))), "ticktext": [escape(w) for w in words],
                       "range": [k + 0.5, -0.5]},
            "shapes": [dict(type="rect", xref="x", yref="y", x0=-0.5, x1=S - 0.5, y0=t - 0.5, y1=t + 0.5,
                            line=dict(color=HIGHLIGHT, width=2))],
        })

    frames = [frame(t) for t in range(T)]
    first = frames[0]
    # The plot area top to bottom, in pixels: the map's title, its source words, its rows, its colour bar,
    # the bars' title, the bars; under it the probability axis, then the buttons and the slider.
    font = _tick_size(S)
    map_title, labels, map_px = 22, _label_height(steps.src_tokens, font, upright=S > 16), ROW_PX * max(T, 3)
    bar_title, bars_px, axis = 70, ROW_PX * (k + 1), 44
    P = map_title + labels + map_px + bar_title + bars_px
    map_top = map_title + labels
    fig.add_trace(go.Heatmap(z=first["data"][0]["z"], customdata=customdata, hovertemplate=template,
                             colorscale=SIGNED_SCALE if view.kind in SIGNED_KINDS else COLORSCALE,
                             zmin=zrange[0], zmax=zrange[1], xgap=1, ygap=1,
                             colorbar=dict(_colorbar(scale_title), y=1 - (map_top + map_px + 8) / P, yref="paper",
                                           yanchor="top")), row=1, col=1)
    fig.add_trace(go.Bar(first["data"][1]), row=2, col=1)
    x, y = _axes(view, font_size=font)
    fig.update_xaxes(x, domain=[0, 0.8], automargin=False, row=1, col=1)
    fig.update_yaxes(y, domain=[1 - (map_top + map_px) / P, 1 - map_top / P], automargin=False, row=1, col=1)
    fig.update_xaxes(range=[0, 1.15], domain=[0, 0.6], title=dict(text="probability", standoff=4), showgrid=True,
                     automargin=False, row=2, col=1)
    fig.update_yaxes(tickmode="array", domain=[0, bars_px / P], automargin=False, row=2, col=1)
    left = _label_width(steps.rows + [w for words in steps.top_words for w in words] + steps.written)
    for text, at in ((escape(steps.name), 0), (f"the {k} most probable next words", P - bars_px - 20)):
        fig.add_annotation(text=text, x=0, xref="paper", xanchor="left", xshift=8 - left, y=1 - at / P, yref="paper",
                           yanchor="top", showarrow=False, font=dict(size=13))       # from the figure's left edge
    fig.update_layout(first["layout"])
    note = _lowercase_note(steps.rows + steps.src_tokens)
    if note:                                             # just above the plot area, under every frame's title
        fig.add_annotation(text=escape(note), x=0, xref="paper", xanchor="left", xshift=8 - left, y=1, yref="paper",
                           yanchor="bottom", yshift=4, showarrow=False, font=dict(size=11, color="#666"))
    lines = max(len(_wrap(heading(t))) for t in range(T))                        # the longest frame's title
    title_px = 10 + TITLE_LINE * lines + (NOTE_BAND if note else 0)
    head = {**_title(heading(0))[0], "text": first["layout"]["title"]["text"], "pad": dict(l=8, t=_title_pad(lines))}
    fig.update_layout(title=head, showlegend=False, height=int(title_px + P + axis + CONTROLS),
                      margin=dict(l=left, r=10, t=title_px, b=axis + CONTROLS),
                      plot_bgcolor="white", paper_bgcolor="white")
    return _animate(fig, frames, [f"{t + 1} {w}" for t, w in enumerate(steps.rows)], "step ", below=axis)


NARROW_PX = 260           # the plot width a beam tree's labels are spaced for (a phone's)


def _punctuation(text: str) -> bool:
    return bool(text) and all(c in ".,;:!?-'\"()…–—" for c in html.unescape(text))


def _label_levels(row: list[tuple[float, int]], unit: float) -> list[int]:
    """For one step's labels, (x position, width in px) left to right: the height level of each (0: just above
    its marker, 1: a line higher, ...), the lowest that keeps it clear of the labels already placed there."""
    ends: list[float] = []                                   # the right edge of the last label on each level
    levels = []
    for x, width in row:
        left = x * unit - width / 2
        level = next((i for i, end in enumerate(ends) if left > end + 4), len(ends))
        if level == len(ends):
            ends.append(0.0)
        ends[level] = x * unit + width / 2
        levels.append(level)
    return levels


def beam_tree(nodes: list[dict], title: str = "") -> go.Figure:
    """The beam search tree (``inspection.beam_tree``): one row per step, the start on top, each kept
    word joined to the hypothesis it extends; squares end a hypothesis (<eos> or the length limit),
    "#r" marks the r-th of the n-best list, and the returned translation's path is red. Each step's words
    are ordered as their parents are (so no two edges cross), and a word is lifted a line where it would
    run into its neighbour's on a phone-wide figure (a beam too wide for two lines stands its words
    upright); words sit on white above their markers, never on one."""
    if not nodes:
        return message_figure("Nothing to show: the translation is empty.")
    position = {-1: 0.0}
    for step in sorted({n["step"] for n in nodes}):               # siblings under their parent, best first
        level = sorted((n for n in nodes if n["step"] == step), key=lambda n: (position[n["parent"]], -n["log_prob"]))
        for i, n in enumerate(level):
            position[n["id"]] = i - (len(level) - 1) / 2
    depth = max(n["step"] for n in nodes) + 1
    widest = max(abs(v) for v in position.values())
    span = 2 * widest + 1.6                                      # the x range, in positions
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
    fig.add_trace(go.Scatter(
        x=[position[n["id"]] for n in nodes], y=[n["step"] for n in nodes], mode="markers", hovertext=hover,
        hoverinfo="text", marker=dict(size=[12 if n["winner"] else 8 for n in nodes],
                                      symbol=["square" if n["finished"] else "circle" for n in nodes],
                                      color=[HIGHLIGHT if n["winner"] else MUTED for n in nodes], line=dict(width=0))))
    fig.add_trace(go.Scatter(x=[0], y=[-1], mode="markers", marker=dict(size=10, color="black"), hoverinfo="skip"))
    # the words: annotations on white above their markers, lifted a line where they would touch a neighbour
    labels = [(n, escape(n["word"]) + (f" #{n['rank'] + 1}" if n["rank"] is not None else "")) for n in nodes]
    width = {n["id"]: 6.2 * len(html.unescape(text)) + 6 for n, text in labels}        # px at 11 px
    unit, levels = NARROW_PX / span, {}
    for step in range(depth):
        row = sorted((n for n, _ in labels if n["step"] == step), key=lambda n: position[n["id"]])
        for n, lift in zip(row, _label_levels([(position[n["id"]], width[n["id"]]) for n in row], unit)):
            levels[n["id"]] = lift
    # Two lines of words a step at most; a beam so wide that a phone would need more stands its words upright
    upright = max(levels.values(), default=0) > 1
    lifts = 0 if upright else max(levels.values(), default=0)
    for n, text in labels + [({"id": -1, "step": -1, "winner": False}, "&lt;sos&gt;")]:
        lift = 0 if upright else levels.get(n["id"], 0)
        if _punctuation(text):                                   # a lone "." at 11 px is a speck
            text = f'<span style="font-size:17px">{text}</span>'
        fig.add_annotation(x=position[n["id"]], y=n["step"], text=text,
                           textangle=-90 if upright and n["id"] >= 0 else 0, showarrow=False, yanchor="bottom",
                           yshift=7 + 15 * lift, bgcolor="rgba(255,255,255,0.85)", borderpad=1,
                           font=dict(size=11, color=HIGHLIGHT if n["winner"] else "#2a3f5f",
                                     weight="bold" if n["winner"] else "normal"))
    head, title_px = _title(title)
    # a step's row: its words (one or two lines, or upright), then the edges down to the next
    step_px = 30 + max(width.values(), default=20) if upright else 46 + 15 * lifts
    fig.update_layout(title=head, showlegend=False,
                      xaxis=dict(visible=False, range=[-widest - 0.8, widest + 0.8]),
                      yaxis=dict(autorange="reversed", title_text="step", tickmode="array",
                                 tickvals=list(range(depth)), ticktext=[str(s + 1) for s in range(depth)],
                                 showgrid=False, zeroline=False),
                      height=int(title_px + 10 + step_px * (depth + 1)),
                      margin=dict(l=10, r=10, t=title_px + 10, b=10),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig


def _missing_epochs(first: int) -> tuple[str, ...]:
    """Why a probes.json starts after epoch 1. ``record_probes`` runs after every epoch train.py trains and
    keeps the epochs before the current one, so a log that starts at epoch n > 1 belongs to a run that
    trained epochs 1 to n - 1 without recording probes and was then resumed (``train.py --resume``)."""
    if first <= 1:
        return ()
    before = "epoch 1" if first == 2 else f"epochs 1–{first - 1}"
    why = (f"starts at epoch {first}: {before} ran before train.py recorded probes; the run was then "
           f"resumed (--resume) and recorded every epoch from {first} on")
    return (why,)


def epochs_figure(log: dict, probe: int, title: str = "") -> go.Figure:
    """How alignment emerged (a ``probes.json``): one probe sentence's cross-attention (mean of layers
    and heads) after each training epoch, with an epoch slider and a play button; the translation
    of each epoch in the title, and why the first epochs are missing where they are. Models without
    attention get a table of the translations instead."""
    epochs = [(e["epoch"], e["probes"][probe]) for e in log.get("epochs", []) if probe < len(e["probes"])]
    if not epochs:
        return message_figure("No epochs were recorded for this sentence.")
    missing = _missing_epochs(epochs[0][0])
    if all(p["alignment"] is None for _, p in epochs):
        fig = go.Figure(go.Table(header=dict(values=["epoch", "translation (no attention to show)"]),
                                 cells=dict(values=[[e for e, _ in epochs], [escape(p["text"]) for _, p in epochs]]),
                                 columnwidth=[1, 8]))
        head, title_px = _title(title, missing)
        fig.update_layout(title=head, margin=dict(l=10, r=10, t=title_px, b=10),
                          height=int(title_px + 70 + 26 * len(epochs)))
        return fig
    src = epochs[0][1]["src_tokens"]
    note = _lowercase_note(src + [t for _, p in epochs for t in p["tokens"]])
    notes = missing + ((note,) if note else ())

    def heading(epoch: int, p: dict) -> list[str]:
        return _wrap(title) + _wrap(f"epoch {epoch}: {p['text']}")

    def frame(epoch: int, p: dict) -> dict:
        view = map_view("cross", torch.tensor(p["alignment"] or [[0.0] * len(src)] * len(p["tokens"])),
                        p["tokens"], p["src_tokens"])
        customdata, template = _hover(view)
        lines = [escape(line) for line in heading(epoch, p)] + [
            f'<span style="{NOTE_STYLE}">{escape(line)}</span>' for n in notes for line in _wrap(n, 52)]
        return dict(name=str(epoch), data=[dict(type="heatmap", z=view.select().round(decimals=4).tolist(),
                                                customdata=customdata, hovertemplate=template)],
                    layout={"title": {"text": "<br>".join(lines)},
                            "yaxis": {"tickvals": list(range(len(p["tokens"]))),
                                      "ticktext": [escape(t) for t in p["tokens"]]}})

    frames = [frame(e, p) for e, p in epochs]
    last = len(frames) - 1                                          # open on the final epoch
    rows = max(len(p["tokens"]) for _, p in epochs)
    map_px = ROW_PX * max(rows, 4)
    (low, high), scale_title = color_range("cross", torch.zeros(0))        # attention: 0-1 (scale_rule)
    fig = go.Figure(go.Heatmap(frames[last]["data"][0], colorscale=COLORSCALE, zmin=low, zmax=high, xgap=1, ygap=1,
                               colorbar=dict(_colorbar(scale_title), y=-6 / map_px, yref="paper", yanchor="top")))
    font = _tick_size(len(src))
    x, y = _axes(View("cross", torch.zeros(1, 1, 1, len(src)), [], src, "output", "source"), font_size=font)
    fig.update_layout(xaxis={**x, "automargin": False}, yaxis={**y, "automargin": False})  # frames must not move it
    fig.update_layout(frames[last]["layout"])
    lines = max(len(heading(e, p)) for e, p in epochs)              # the longest frame's title
    small = sum(len(_wrap(n, 52)) for n in notes)
    head = {**_title(title)[0], "text": frames[last]["layout"]["title"]["text"],
            "pad": dict(l=8, t=_title_pad(lines + small))}
    top = 10 + TITLE_LINE * (lines + small) + _label_height(src, font, upright=len(src) > 16)
    fig.update_layout(title=head, plot_bgcolor="white", paper_bgcolor="white",
                      height=int(top + map_px + COLORBAR_BAND + CONTROLS),
                      margin=dict(l=_label_width([t for _, p in epochs for t in p["tokens"]]), r=10, t=top,
                                  b=COLORBAR_BAND + CONTROLS))
    fig = _animate(fig, frames, [str(e) for e, _ in epochs], "epoch ", duration=600, below=COLORBAR_BAND)
    fig.layout.sliders[0].active = last
    return fig


# ---------------------------------------------------------------------------- attributions (the Inspect tab)

SOURCE_COLOR, PREFIX_COLOR = "#4d9221", "#8c6bb1"
SQUARE_CELL = 22         # px a side of a cell in the source-or-prefix figure


def source_prefix_figure(source: torch.Tensor, prefix: torch.Tensor, share: torch.Tensor, rows: list[str],
                         src_tokens: list[str], title: str = "", signed: bool = True) -> go.Figure:
    """Integrated gradients over the source words (left) and the words already written (middle), one signed
    scale for both (``signed=False``: contributions, ALTI+'s, from 0 to the largest of both), and per output word the
    share of its attribution from each (the strip on the right).
    Cells are drawn square at a readable size: the figure is as wide as its columns need (SQUARE_CELL each),
    and scrolls sideways where the screen is narrower (a phone), rather than crushing 40 columns into 200 px."""
    prefix_cols = ["<sos>"] + rows[:-1]
    top = max(float(source.abs().max()) if source.numel() else 0.0, float(prefix.abs().max()) if prefix.numel() else 0.0,
              1e-6)
    (low, high), scale_title = ((-top, top), f"±{top:.2f}") if signed else ((0.0, top), f"0–{top:.2f}")
    value_name = "attribution" if signed else "contribution"
    S, T = max(len(src_tokens), 1), max(len(prefix_cols), 1)
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03,
                        column_widths=[S / (S + T + 3), T / (S + T + 3), 3 / (S + T + 3)],
                        subplot_titles=["source words", "words already written", "share"])
    y = list(range(len(rows)))
    labels = [escape(r) for r in rows]
    for col, (values, columns, name) in enumerate(((source, src_tokens, "source"), (prefix, prefix_cols, "written")), 1):
        custom = [[[r, escape(c)] for c in columns] for r in labels]
        fig.add_trace(go.Heatmap(z=values.round(decimals=4).tolist(), x=list(range(len(columns))), y=y,
                                 customdata=custom, colorscale=SIGNED_SCALE if signed else COLORSCALE, zmin=low,
                                 zmax=high, xgap=1, ygap=1, showscale=col == 1,
                                 hovertemplate=(f"output: %{{customdata[0]}}<br>{name}: %{{customdata[1]}}"
                                                f"<br>{value_name}: %{{z:.3f}}<extra></extra>"),
                                 colorbar=dict(thickness=10, len=0.6, y=0.5, title=dict(text=scale_title,
                                                                                         side="right"))),
                      row=1, col=col)
        fig.update_xaxes(tickmode="array", tickvals=list(range(len(columns))), ticktext=[escape(c) for c in columns],
                         tickangle=-45, side="top", showgrid=False, zeroline=False, row=1, col=col)
    fig.add_trace(go.Bar(x=share.tolist(), y=y, orientation="h", marker_color=SOURCE_COLOR, name="from the source",
                         customdata=labels, hovertemplate="%{customdata}: %{x:.0%} from the source<extra></extra>"),
                  row=1, col=3)
    fig.add_trace(go.Bar(x=(1 - share).tolist(), y=y, orientation="h", marker_color=PREFIX_COLOR,
                         name="from the words written", customdata=labels,
                         hovertemplate="%{customdata}: %{x:.0%} from the words already written<extra></extra>"),
                  row=1, col=3)
    fig.update_xaxes(range=[0, 1], tickvals=[0, 0.5, 1], ticktext=["0", "½", "1"], side="top", row=1, col=3)
    fig.update_yaxes(tickmode="array", tickvals=y, ticktext=labels, autorange="reversed", showgrid=False,
                     zeroline=False)
    fig.update_annotations(y=0, yanchor="top", yshift=-4, font=dict(size=12))   # panel names under the panels,
    longest = max((len(t) for t in src_tokens + prefix_cols), default=1)        # the tokens are on top
    panels = SQUARE_CELL * max(len(rows), 4)                                      # pixels of the panels' height
    head, title_px = _title(title)
    inner = (S + T + 3) * SQUARE_CELL / (1 - 2 * 0.03)                           # the panels and their gaps
    width = int(_label_width(labels) + inner + 90)                                # + the colour bar and margins
    fig.update_layout(barmode="stack", title=head, height=int(110 + title_px + 5 * min(longest, 20) + panels),
                      width=width, autosize=False,
                      margin=dict(l=10, r=10, b=70, t=int(40 + title_px + 5 * min(longest, 20))),
                      legend=dict(orientation="h", x=1, xanchor="right", y=-28 / panels, yanchor="top",
                                  traceorder="normal"),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig


def contrast_figure(values: torch.Tensor, src_tokens: list[str], title: str = "") -> go.Figure:
    """One bar per source word: its share of log p(word) - log p(foil) (signed; green: toward the word)."""
    v = values.tolist()
    colors = [SOURCE_COLOR if x >= 0 else SIGNED_SCALE[0][1] for x in v]
    labels = [escape(t) for t in src_tokens]
    fig = go.Figure(go.Bar(x=list(range(len(v))), y=v, marker_color=colors, customdata=labels,
                           hovertemplate="%{customdata}: %{y:+.3f}<extra></extra>"))
    head, title_px = _title(title)
    fig.update_layout(title=head,
                      xaxis=dict(tickmode="array", tickvals=list(range(len(v))), ticktext=labels, tickangle=-45),
                      yaxis=dict(title=dict(text="Δ log p"), zeroline=True, zerolinecolor="#555"),
                      height=300 + title_px, margin=dict(l=10, r=10, t=20 + title_px, b=10), plot_bgcolor="white",
                      paper_bgcolor="white")
    return fig


LENS_TEXT_COLUMNS = 14     # the logit lens writes each layer's guess in its cells up to this many words


def lens_figure(probs: torch.Tensor, top_words: list[list[list[str]]], top_probs: torch.Tensor, rows: list[str],
                title: str = "") -> go.Figure:
    """The logit lens: one row per decoder layer (the last at the bottom), one column per word written; a cell's
    colour is the probability that layer already gives the word finally written (0-1, a probability), its text
    that layer's own best guess (up to ``LENS_TEXT_COLUMNS`` words), and its hover the layer's three best words."""
    L, T = probs.shape
    layers = [f"layer {i + 1}" for i in range(L)]
    words = [escape(w) for w in rows]
    guess = [[escape(top_words[i][t][0]) for t in range(T)] for i in range(L)]
    hover = [[f"{layers[i]} · step {t + 1}, wrote “{words[t]}”: p {float(probs[i, t]):.2f}<br>its best: "
              + ", ".join(f"{escape(w)} {float(p):.2f}" for w, p in zip(top_words[i][t], top_probs[i, t]))
              for t in range(T)] for i in range(L)]
    labelled = T <= LENS_TEXT_COLUMNS                     # more columns: the guesses would overlap; hover instead
    fig = go.Figure(go.Heatmap(z=probs.tolist(), x=list(range(T)), y=layers, zmin=0.0, zmax=1.0,
                               colorscale="Blues", text=guess, texttemplate="%{text}" if labelled else None,
                               textfont=dict(size=10),
                               customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                               colorbar=_colorbar("p(word written)")))
    head, title_px = _title(title)
    fig.update_layout(title=head, xaxis=dict(tickmode="array", tickvals=list(range(T)), ticktext=words, tickangle=-45,
                                             side="top"),
                      yaxis=dict(autorange="reversed"), height=120 + 34 * L + title_px + _label_height(words, 12),
                      margin=dict(l=10, r=10, t=20 + title_px + _label_height(words, 12), b=10),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig
