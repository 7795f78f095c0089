"""Plotly figures of the models compared on the whole test set (the Leaderboard): each model's score with its 95%
confidence interval, the matrix of pairwise differences marked by significance, scores by bucket (source length,
rarest source word, word frequency) and the attention coverage of the words a translation missed. Data comes
from ``comparison.TestComparison``; titles wrap to a phone's width as every figure of the app does."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import DIVERGING, _title, escape, message_figure

# One colour per model wherever models are lines or bars (Okabe & Ito's palette: told apart with colour-blindness).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
METRIC_NAMES = {"bleu": "BLEU", "chrf": "chrF"}
NOT_SIGNIFICANT = "#e3e3e3"
SATURATION = 5.0          # points of BLEU or chrF at which the significance matrix's colours are darkest


def model_colors(names: list[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _layout(fig: go.Figure, title: str, notes: tuple[str, ...], height: int, bottom: int = 40, left: int = 10) -> go.Figure:
    t, top = _title(title, notes)
    fig.update_layout(title=t, height=height + top + bottom, margin=dict(l=left, r=12, t=top + 6, b=bottom),
                      plot_bgcolor="white", paper_bgcolor="white", font=dict(size=12))
    return fig


def _legend(fig: go.Figure) -> None:
    """The models' legend in a row under the plot (it wraps on a phone)."""
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top", font=dict(size=11)))


def confidence_figure(models: dict[str, dict], names: list[str], title: str = "") -> go.Figure:
    """Each model's corpus BLEU and chrF (dots) with sacreBLEU's bootstrap 95% confidence interval (bars), one
    panel per metric, best model on top. ``models``: name -> {"bleu": {"score", "mean", "ci"}, "chrf": ...}."""
    names = [n for n in names if n in models]
    if not names:
        return message_figure("No confidence intervals: run python -m seq2seq.compare checkpoints.")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"{METRIC_NAMES[m]} (95% CI)" for m in ("bleu", "chrf")])
    colors = model_colors(names)
    for col, m in enumerate(("bleu", "chrf"), start=1):
        for n in names:
            r = models[n].get(m)
            if not r:
                continue
            low, high = r["mean"] - r["ci"], r["mean"] + r["ci"]
            fig.add_trace(go.Scatter(
                x=[r["score"]], y=[n], mode="markers", marker=dict(size=9, color=colors[n]), showlegend=False,
                error_x=dict(type="data", symmetric=False, array=[high - r["score"]], arrayminus=[r["score"] - low],
                             thickness=2, width=5, color=colors[n]),
                hovertemplate=f"{escape(n)}: {METRIC_NAMES[m]} {r['score']:.2f}<br>95% CI {low:.2f} – {high:.2f}"
                              "<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names, showgrid=True,
                     gridcolor="#eee", automargin=True)
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_annotations(font=dict(size=12))
    return _layout(fig, title, ("dots: the test score; bars: the bootstrap's 95% interval",), 34 * len(names) + 40,
                   bottom=30)


def significance_matrix(pairs: list[list], names: list[str], metric: str = "bleu", alpha: float = 0.05,
                        title: str = "") -> go.Figure:
    """Every pair at a glance: the cell of row A and column B holds A − B in ``metric``, coloured (purple: the row's
    model better, orange: the column's) when the difference is significant by both tests, grey and marked "n.s."
    when not. ``pairs``: rows of ``TestComparison.pair_rows``."""
    if not pairs:
        return message_figure("No significance tests: run python -m seq2seq.compare checkpoints.")
    offset = 2 if metric == "bleu" else 5                       # the metric's columns in a pair row
    cell = {}
    for row in pairs:
        a, b, delta, p_bs, p_ar = row[0], row[1], row[offset], row[offset + 1], row[offset + 2]
        sig = p_bs < alpha and p_ar < alpha
        cell[(a, b)] = (delta, p_bs, p_ar, sig)
        cell[(b, a)] = (-delta, p_bs, p_ar, sig)
    names = [n for n in names if any(n in k for k in cell)]
    # the colour saturates at ±5 points, so a significant difference of one or two points is not drawn near-white
    top = min(max((abs(v[0]) for v in cell.values()), default=1.0), SATURATION) or 1.0
    z, text, hover, grey = [], [], [], []
    for a in names:
        zr, tr, hr, gr_ = [], [], [], []
        for b in names:
            if a == b:
                zr.append(None), tr.append("·"), hr.append(escape(a)), gr_.append(None)
                continue
            delta, p_bs, p_ar, sig = cell[(a, b)]
            zr.append(delta if sig else None)
            gr_.append(None if sig else 0)
            tr.append(f"{delta:+.2f}" + ("" if sig else "<br><span style='font-size:10px'>n.s.</span>"))
            hr.append(f"{escape(a)} − {escape(b)}: {METRIC_NAMES[metric]} {delta:+.2f}<br>p bootstrap {p_bs:.4f}, "
                      f"p AR {p_ar:.4f}<br>{'significant' if sig else 'not significant'} at p &lt; {alpha}")
        z.append(zr), text.append(tr), hover.append(hr), grey.append(gr_)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(z=grey, x=names, y=names, colorscale=[[0, NOT_SIGNIFICANT], [1, NOT_SIGNIFICANT]],
                             showscale=False, hoverinfo="skip", xgap=2, ygap=2))
    fig.add_trace(go.Heatmap(z=z, x=names, y=names, colorscale=DIVERGING, zmin=-top, zmax=top, zmid=0,
                             text=text, texttemplate="%{text}", textfont=dict(size=11), customdata=hover,
                             hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2, showscale=False))
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=11))
    fig.update_xaxes(side="top", tickfont=dict(size=11))      # Plotly slants the names where cells are narrow
    notes = (f"cell: row A − column B in {METRIC_NAMES[metric]}; coloured where p < {alpha} by both tests (purple: "
             f"the row's model better, orange: the column's; darkest from ±{SATURATION:g}), grey n.s. where not",)
    fig = _layout(fig, title, notes, 40 * len(names) + 40, bottom=10)
    # room above the cells for the columns' names, slanted where cells are narrow (a phone's are 40 px)
    fig.update_layout(margin=dict(t=fig.layout.margin.t + 56), height=fig.layout.height + 56)
    return fig


def readable(bucket: str) -> str:
    """A compare-mt bucket name as a person reads it: "<1" -> "0", "[5,10)" -> "5–9", ">=100" -> "100+" (integer
    buckets; "<8" stays)."""
    if bucket == "<1":
        return "0"
    if bucket.startswith("[") and bucket.endswith(")"):
        low, high = bucket[1:-1].split(",")
        return f"{low}–{int(high) - 1}"
    if bucket.startswith(">="):
        return f"{bucket[2:]}+"
    return bucket


def _counts(rows: list[dict], key: str, unit: str) -> str:
    """The size of each bucket, for the note under the title (tick labels have no room for it on a phone)."""
    return f"{unit} per bucket: " + " · ".join(f"{r[key]:,}" for r in rows)


def bucket_figure(outputs: dict[str, dict], names: list[str], key: str, metric: str = "bleu", title: str = "",
                  axis: str = "") -> go.Figure:
    """One line per model: its corpus ``metric`` on the sentences of each bucket (``key`` "length" or "rarest"),
    with sacreBLEU's bootstrap 95% half-width as error bars; under each bucket its number of sentences."""
    names = [n for n in names if n in outputs and outputs[n].get("buckets", {}).get(key)]
    if not names:
        return message_figure("No test outputs: run python -m seq2seq.compare checkpoints.")
    colors = model_colors(names)
    first = outputs[names[0]]["buckets"][key]
    labels = [readable(r["bucket"]) for r in first]
    fig = go.Figure()
    for n in names:
        rows = outputs[n]["buckets"][key]
        fig.add_trace(go.Scatter(
            x=labels, y=[r[metric] for r in rows], name=n, mode="lines+markers", line=dict(color=colors[n], width=2),
            marker=dict(size=6), error_y=dict(type="data", array=[r.get(f"{metric}_ci") or 0 for r in rows],
                                              thickness=1, width=3, color=colors[n]),
            customdata=[[readable(r["bucket"]), r["sentences"], r.get(f"{metric}_ci") or 0] for r in rows],
            hovertemplate=(f"{escape(n)}: {METRIC_NAMES[metric]} %{{y:.1f}} ± %{{customdata[2]:.1f}}<br>"
                           "%{customdata[1]} sentences in %{customdata[0]}<extra></extra>")))
    fig.update_yaxes(title=dict(text=f"corpus {METRIC_NAMES[metric]}", font=dict(size=11)), showgrid=True,
                     gridcolor="#eee", zeroline=False)
    fig.update_xaxes(title=dict(text=axis, font=dict(size=11)), tickfont=dict(size=11), type="category")
    _legend(fig)
    notes = ("bars: 95% bootstrap interval", _counts(first, "sentences", "sentences"))
    return _layout(fig, title, notes, 300, bottom=150, left=10)


def word_accuracy_figure(outputs: dict[str, dict], names: list[str], title: str = "") -> go.Figure:
    """compare-mt's word accuracy by frequency: one line per model, the F-measure of the output words against the
    reference words of each bucket of training frequency; under each bucket its number of reference words."""
    names = [n for n in names if n in outputs and outputs[n].get("buckets", {}).get("word_frequency")]
    if not names:
        return message_figure("No test outputs: run python -m seq2seq.compare checkpoints.")
    colors = model_colors(names)
    first = outputs[names[0]]["buckets"]["word_frequency"]
    labels = [readable(r["bucket"]) for r in first]
    fig = go.Figure()
    for n in names:
        rows = outputs[n]["buckets"]["word_frequency"]
        fig.add_trace(go.Scatter(
            x=labels, y=[r["f"] for r in rows], name=n, mode="lines+markers", line=dict(color=colors[n], width=2),
            marker=dict(size=6), customdata=[[readable(r["bucket"]), r["recall"], r["precision"], r["reference"], r["output"]]
                                             for r in rows],
            hovertemplate=(f"{escape(n)}: F %{{y:.3f}} (recall %{{customdata[1]:.3f}}, precision %{{customdata[2]:.3f}})"
                           "<br>words seen %{customdata[0]} times in training: %{customdata[3]} in the references, "
                           "%{customdata[4]} in the outputs<extra></extra>")))
    fig.update_yaxes(title=dict(text="word F-measure", font=dict(size=11)), range=[0, 1], showgrid=True,
                     gridcolor="#eee")
    fig.update_xaxes(title=dict(text="times the English word occurs in training", font=dict(size=11)),
                     tickfont=dict(size=11), type="category")
    _legend(fig)
    notes = ("compare-mt's word accuracy: each output word matched to the same word in its reference",
             _counts(first, "reference", "reference words"))
    return _layout(fig, title, notes, 300, bottom=150)


def coverage_figure(coverage: dict[str, dict], missing: dict[str, float], names: list[str], threshold: float,
                    title: str = "") -> go.Figure:
    """Per model with attention, two bars: of the source words its output missed, the share the map left
    unattended (coverage below ``threshold``), and of the words it translated; a long first bar against a short
    second means low coverage flags a dropped word. ``missing``: every model's share of missed words (the label)."""
    names = [n for n in names if n in coverage]
    if not names:
        return message_figure("No coverage: run python -m seq2seq.compare checkpoints (needs eflomal for the "
                              "reference alignments).")
    fig = go.Figure()
    for key, label, color in (("unattended_if_missing", "of the words the output missed", "#D55E00"),
                              ("unattended_if_present", "of the words it translated", "#0072B2")):
        values = [100 * (coverage[n][key] or 0) for n in names]
        fig.add_trace(go.Bar(
            y=[f"{n}<br><span style='font-size:10px;color:#666'>missed {100 * missing[n]:.1f}%</span>" for n in names],
            x=values, name=f"unattended {label}", orientation="h", marker_color=color,
            text=[f"{v:.0f}%" for v in values], textposition="outside", cliponaxis=False,
            hovertemplate=f"%{{x:.1f}}% {label} were unattended<extra></extra>"))
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=dict(text=f"% unattended (coverage < {threshold:g})", font=dict(size=11)), showgrid=True,
                     gridcolor="#eee", range=[0, 105])
    _legend(fig)
    notes = ("coverage: the total attention a source word received from all output words",)
    return _layout(fig, title, notes, 56 * len(names) + 30, bottom=110)
