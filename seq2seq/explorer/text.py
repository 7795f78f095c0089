"""The words on the page that come from data: a card's line of numbers, a map's statistics, the
About tab (``about.md`` beside this file). Everything here is Markdown for ``gr.Markdown``; text
that came from a user or a model goes through :func:`md` so it is shown literally."""

from __future__ import annotations

import html
from pathlib import Path

from ..analysis.inspection import KIND_NAMES, Comparison
from ..results import faithfulness_value
from .service import Result

ABOUT = (Path(__file__).with_name("about.md")).read_text(encoding="utf-8")

# The fixed text of the page: its title, and the introduction of each tab and section.
SECTIONS = {
    "title": ('# seq2seq attention explorer\nType a German sentence: six classic neural translation architectures '
        'translate it side by side, each with a map of where it looked while writing each English word.'),
    "domain": ('<small>The models learned from 29,000 image captions (Multi30k): they translate descriptions of '
        'people, animals and scenes well, and everyday German outside that domain poorly.</small>'),
    "family": ('### The attention family\nOne Luong model per attention score, all of one size (about 3.5M '
        'parameters) and trained by one recipe (`python train.py --family`), so only the attention differs. '
        'One sentence through every member; every map on the same 0–1 scale. BLEU: test_2016_flickr, beam 5. '
        'AER and comprehensiveness: how well each member\'s attention aligns words and how faithful it is, on 500 '
        'test sentences (the Leaderboard explains both). The About tab explains each member.'),
    "inspect": ('One model and one sentence in depth: how it decoded word by word, what it writes when the start of '
        'its output is changed, where it looks when forced along the reference, its beam search, and how its '
        'alignment emerged during training.'),
    "steps": ('### Step by step\nOne frame per word written (press ▶ or drag the slider): the map row behind the '
        'word, outlined, and the five words the model found most probable at that step.'),
    "what_if": ('### What if …\nEdit the start of the output, or pick another of the five most probable words at a '
        'step: the model is forced along that start and continues on its own (the dashed line ends the '
        'forced words).'),
    "forcing": ("### Teacher forcing\nThe model's own (free-running) output beside the reference forced through it "
        'word by word: where it looks when it is told what to write.'),
    "beam": ('### Beam search\nThe finished hypotheses, best first, and the search tree: every word the beam kept '
        'at each step; squares end a hypothesis, red is the path of the winner.'),
    "nbest": ('<small>The n-best list is ranked by the score beam search uses, the log-probability divided by '
        'length<sup>α</sup> (α the length penalty; 0: the plain log-probability), so a longer hypothesis can '
        'rank above a shorter one of higher log-probability.</small>'),
    "source_prefix": ('### Source or prefix?\nIntegrated gradients (16 steps from zero embeddings) of each word '
        "the model wrote, over the source words and over the words it had already written: the strip on the right "
        'says what share of each word came from the German and what share from its own English so far.'),
    "contrast": ('### Why this word and not another?\nPick a word of the output and type another English word: the '
        'bars attribute the difference of their log-probabilities at that step to the source words '
        '(contrastive integrated gradients; green pushed toward the word written, magenta toward yours).'),
    "epochs": ('### How alignment emerged\nDuring training the model translated four fixed probe sentences after '
        'every epoch (`probes.json` beside the checkpoint); slide through the epochs. A log starts where recording '
        'started: `train.py` records the probes after each epoch it trains, and a run that trained its first epochs '
        'before probes were recorded, then resumed (`--resume`), has none for those epochs (the Transformer\'s '
        'starts at epoch 3; the figure says so).'),
    "compare": ("Two models' maps of one sentence, along the same output (each model is forced to write it), so the "
        'rows and columns line up: their difference (purple where A puts more weight, orange where B does, '
        'on a scale fitted to the largest difference) and one similarity number. A model without attention '
        '(LSTM, GRU) takes part with its saliency map.'),
    "trust": ('### How far each model\'s maps can be trusted\nMeasured on test sentences (500 for the shipped '
        'checkpoints; `python -m seq2seq.analysis.faithfulness CHECKPOINT --save`). **comp@20%** (comprehensiveness): how much the '
        'probability of each output word falls when the fifth of the source words a map ranks highest is deleted; '
        'higher means the map points at the words the model uses, and deleting a random fifth is the floor. '
        '**AER**: the alignment error rate of the map\'s strongest source word for each output word against a '
        'statistical word aligner (eflomal); lower means it links the words a translator would. **IG**: integrated '
        'gradients. The LSTM and GRU have no attention; docs/faithfulness.md in the project has every map and measure.'),
}


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


def comparison_status(c: Comparison, names: tuple[str, str], along: str, tokens: list[str]) -> str:
    """The Compare tab's line: the similarity, what it means, and the output both were forced along."""
    a, b = names
    which = {"a": f"A's ({a}) translation", "b": f"B's ({b}) translation", "reference": "the reference"}[along]
    status = (f"Similarity **{c.similarity:.3f}** (1 − the mean total-variation distance between their rows: "
              f"1 for the same map, 0 for maps that share no weight), along {md(which)}: "
              f"*{md(' '.join(tokens) or '(empty)')}*")
    if c.names[0] != c.names[1]:
        status += f"  \nA's map is its {md(c.names[0])}, B's its {md(c.names[1])}."
    return status


def map_stats_markdown(s: dict, name: str, rows: list[str], columns: list[str], self_attention: bool = False) -> str:
    """The statistics of one map, for under its heatmap: the numbers, then per word (see the About tab).
    Self-attention maps speak of query and key words; the others of output and source words."""
    if s["diagonality"] is None:
        return ""
    row, column = ("query", "key") if self_attention else ("output", "source")
    special = [f"on {md(token)} {100 * s[key]:.0f}%" for key, token in (("eos", "<eos>"), ("sos", "<sos>"))
               if s.get(key) is not None]
    line = " · ".join([f"<small>**{md(name)}**", f"entropy **{s['mean_entropy']:.2f}** bits per {row} word "
                       f"({s['entropy_norm']:.2f} of the maximum)", f"diagonality **{s['diagonality']:.2f}**",
                       f"monotonicity **{s['monotonicity']:.2f}**",
                       f"weight on punctuation {100 * s['punctuation']:.0f}%", *special]) + "</small>"
    per_row = ", ".join(f"“{md(w)}” {h:.2f}" for w, h in zip(rows, s["entropy"]))
    per_column = ", ".join(f"“{md(w)}” {c:.2f}" for w, c in zip(columns, s["coverage"]))
    return (f"{line}\n\n<small>entropy per {row} word (bits): {per_row}<br>"
            f"coverage (total weight each {column} word received): {per_column}</small>")


# Which of the faithfulness test's maps (``analysis/faithfulness.py``) a card's map is.
FAITHFULNESS_KIND = {"cross": "alignment", "alignment": "alignment", "saliency": "saliency",
                     "integrated_gradients": "integrated_gradients", "input_x_gradient": "input_x_gradient"}


def faithfulness_line(metrics: dict, kind: str, layer: int | None = None, head: int | None = None) -> str:
    """How far this kind of map can be trusted for this model, measured on test sentences (the checkpoint's
    metrics.json, ``python -m seq2seq.analysis.faithfulness CHECKPOINT --save``); "" if never measured. With one
    head of cross-attention shown, its own AER where measured, and the line says its other figures are the mean's."""
    f = metrics.get("faithfulness") or {}
    name = FAITHFULNESS_KIND.get(kind)
    layer = layer if kind == "cross" and layer is not None and layer >= 0 else None
    head = head if kind == "cross" and head is not None and head >= 0 else None
    if layer is not None:
        name = f"attention_layer_{layer + 1}"
    scores = (f.get("deletion") or {}).get("scores", {})
    if name not in scores:
        return ""
    comp = lambda k: faithfulness_value(metrics, k, "comprehensiveness")  # noqa: E731
    others = [f"{label} {comp(k):.3f}" for k, label in (("integrated_gradients", "integrated gradients"),
                                                         ("alignment", "attention"), ("random", "random"))
              if k != name and k in scores]
    parts = [f"comprehensiveness **{comp(name):.3f}** ({', '.join(others)})",
             f"sufficiency {faithfulness_value(metrics, name, 'sufficiency'):.3f} (lower is better)"]
    aer = faithfulness_value(metrics, name, "aer")
    own = faithfulness_value(metrics, f"{name}_head_{head + 1}", "aer") if layer is not None and head is not None else None
    if own is not None:
        parts.append(f"this head's AER **{own:.3f}** against a statistical aligner (eflomal; lower is better; "
                     f"its layer's mean of heads {aer:.3f})")
    elif aer is not None:
        parts.append(f"AER **{aer:.3f}** against a statistical aligner (eflomal; lower is better)")
    n = (f.get("deletion") or {}).get("sentences")
    of = ("" if head is None else f", measured on layer {layer + 1}'s mean of heads" if layer is not None
          else ", measured on the mean of all layers and heads")
    return (f"<small>**How far to trust this kind of map** ({n} test sentences{of}; removing the 20% of source words "
            f"it ranks highest, how much each word's probability falls): " + " · ".join(parts) + "</small>")


def attribution_markdown(kind: str, a, rows: list[str], attention=None) -> str:
    """Under a signed attribution map (``attribution.Attribution``): what a cell is, how well the rows add
    up (integrated gradients), the share that raised the words, and agreement with the attention's argmax."""
    total = a.source.abs().sum().clamp_min(1e-12)
    positive = float(a.source.clamp_min(0).sum() / total)
    parts = [f"<small>**{md(KIND_NAMES[kind])}** of each word's log-probability to each source word (green "
             f"raised it, magenta lowered it)", f"{100 * positive:.0f}% of the attribution raised the words"]
    if a.baseline_value is not None:
        gap = float(a.completeness_gap.median()) if len(a.steps) else 0.0
        parts.append(f"rows sum to log p(word) − log p(word | zero source embeddings) within {100 * gap:.1f}% "
                     f"(median; completeness)")
    if attention is not None and attention.shape == a.source.shape and len(rows):
        agree = int((attention.argmax(-1) == a.source.argmax(-1)).sum())
        parts.append(f"its top source word is the attention's top word for {agree} of {len(rows)} output words")
    return " · ".join(parts) + "</small>"
