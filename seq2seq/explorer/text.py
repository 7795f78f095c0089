"""The words on the page that come from data: a card's line of numbers, a map's statistics, the
About tab (``about.md`` beside this file). Everything here is Markdown for ``gr.Markdown``; text
that came from a user or a model goes through :func:`md` so it is shown literally."""

from __future__ import annotations

import html
from pathlib import Path

from .service import Result

ABOUT = (Path(__file__).with_name("about.md")).read_text(encoding="utf-8")


def md(text: str) -> str:
    """Text shown literally in gr.Markdown: HTML-escaped, and markdown's own characters as entities."""
    return html.escape(text, quote=False).translate({ord(c): f"&#{ord(c)};" for c in "*_`[]\\~|#"})


def result_line(result: Result) -> str:
    """Under a card's translation: its log-probability, time, sentence BLEU, whether it finished."""
    t = result.translation
    parts = [f"log-probability **{t.log_prob:.2f}**", f"{1000 * result.seconds:.0f} ms"]
    if result.bleu is not None:
        parts.append(f"sentence BLEU **{result.bleu:.1f}**")
    if not t.finished:
        parts.append("stopped at the length limit")
    return " · ".join(parts)


def map_stats_markdown(s: dict, name: str, rows: list[str], columns: list[str], self_attention: bool = False) -> str:
    """The statistics of one map, for under its heatmap: the numbers, then per word (see the About tab).
    Self-attention maps speak of query and key words; the others of output and source words."""
    if s["diagonality"] is None:
        return ""
    row, column = ("query", "key") if self_attention else ("output", "source")
    special = [f"on {md(token)} {100 * s[key]:.0f}%" for key, token in (("eos", "<eos>"), ("sos", "<sos>"))
               if s.get(key) is not None]
    line = " · ".join([f"<small>**{md(name)}**", f"entropy **{s['mean_entropy']:.2f}** bits a {row} word "
                       f"({s['entropy_norm']:.2f} of the maximum)", f"diagonality **{s['diagonality']:.2f}**",
                       f"monotonicity **{s['monotonicity']:.2f}**",
                       f"weight on punctuation {100 * s['punctuation']:.0f}%", *special]) + "</small>"
    per_row = ", ".join(f"“{md(w)}” {h:.2f}" for w, h in zip(rows, s["entropy"]))
    per_column = ", ".join(f"“{md(w)}” {c:.2f}" for w, c in zip(columns, s["coverage"]))
    return (f"{line}\n\n<small>entropy per {row} word (bits): {per_row}<br>"
            f"coverage (total weight each {column} word received): {per_column}</small>")
