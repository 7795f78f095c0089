"""The served models compared on the whole test set, from the files ``python -m seq2seq.compare`` writes (each
checkpoint's ``test_outputs.json`` and the folder's ``significance.json``): read once at start-up, never a
translation. What the Leaderboard's significance, buckets and coverage sections and the Compare tab's list of the
sentences where two models differ show, as tables and text; the figures are drawn by ``comparison_figures``.

The test sentences themselves (German and reference) are read from the Multi30k directory when it is there
(``SEQ2SEQ_DATA_DIR``, else ``data/multi30k``; never downloaded from here), as the app's references are; without
it the list shows both models' translations and scores, and says why the German is missing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.buckets import RAREST_CUTOFFS, bucket_names, coverage_against_missing
from ..analysis.differences import ORDERS, rank_differences
from ..analysis.outputs import (COVERAGE_THRESHOLD, DEFAULT_BEAM, DEFAULT_SPLIT, OutputsError, current, outputs_path,
                                read_outputs, significance_path, text_digest)
from ..analysis.significance import ALPHA, find_pair, significant
from ..checkpoint import read_json
from ..data import read_lines, resolve_data_dir

COMMAND = "python -m seq2seq.compare checkpoints"
METRIC_NAMES = {"bleu": "BLEU", "chrf": "chrF"}
LIST_LENGTH = 30           # sentences the Compare list shows at once
# The Compare list's filter on the rarest source word (buckets.RAREST_CUTOFFS), as a person reads it.
RAREST_LABELS = {"<1": "a word never seen in training", "1": "its rarest word seen once in training",
                 "2": "its rarest word seen twice", "[3,5)": "its rarest word seen 3-4 times",
                 "[5,10)": "its rarest word seen 5-9 times", "[10,100)": "its rarest word seen 10-99 times",
                 ">=100": "no word seen fewer than 100 times"}
PAIR_HEADERS = ["A − B", "ΔBLEU", "p bootstrap", "p AR", "ΔchrF", "p bootstrap ", "p AR ",
                "significant (p < 0.05, both tests)"]
MODEL_HEADERS = ["model", "BLEU", "BLEU 95% CI", "chrF", "chrF 95% CI"]


def list_headers(a: str, b: str) -> list[str]:
    """The Compare list's headers, naming the two models."""
    return ["#", "Δ (A − B)", "A", "B", "German", f"A: {a}", f"B: {b}", "reference"]
# (what each column of the coverage table is: the intro above the table says it in words)
COVERAGE_HEADERS = ["model", "aligned words", "missed", "unattended", "unattended | missed",
                    "unattended | translated", "missed | unattended", "missed | attended"]


def percent(x) -> str | None:
    return None if x is None else f"{100 * x:.1f}%"


@dataclass
class TestComparison:
    """Every served model's test outputs and the pairwise tests, read from the checkpoints' directory."""

    names: list[str]                                   # the served models, in the app's order
    outputs: dict[str, dict] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)    # (model, why it has no usable outputs)
    significance: dict | None = None
    significance_problem: str | None = None
    sources: list[str] | None = None                   # the test sentences (German), when the data is found
    references: list[str] | None = None
    data_problem: str | None = None
    split: str = DEFAULT_SPLIT
    beam: int = DEFAULT_BEAM

    @classmethod
    def load(cls, models, split: str = DEFAULT_SPLIT, beam: int = DEFAULT_BEAM, data_dir=None) -> "TestComparison":
        """From a ``ModelSet``: each model's outputs file beside its checkpoint, checked against its weights; the
        significance file of the models' folder, checked against those outputs; the test text from the data."""
        c = cls(list(models), split=split, beam=beam)
        for name in c.names:
            path = models.translators[name].path
            file = outputs_path(path, split, beam) if path else None
            try:
                data = read_outputs(file) if file else None
                why = current(data, path, beam=beam) if data else "no checkpoint directory"
            except FileNotFoundError:
                why = "no test outputs"
            except OutputsError as e:
                why = str(e)
            if why is None:
                c.outputs[name] = data
            else:
                c.problems.append((name, why))
        root = Path(models.root)
        sig_file = significance_path(root, split, beam)
        if sig_file.is_file() and c.outputs:
            try:
                sig = read_json(sig_file)
                stale = [n for n, m in sig.get("models", {}).items()
                         if n in c.outputs and m.get("hypotheses_digest") != text_digest(c.outputs[n]["hypotheses"])]
                if stale:
                    c.significance_problem = (f"{sig_file.name} was computed from other translations of "
                                              f"{', '.join(stale)} than their test outputs now")
                else:
                    c.significance = sig
            except Exception as e:   # a damaged file: the page says so, the rest stands
                c.significance_problem = f"{sig_file.name} cannot be read: {e}"
        elif c.outputs:
            c.significance_problem = f"no {sig_file.name} beside the checkpoints"
        c._read_text(data_dir)
        return c

    def _read_text(self, data_dir=None):
        if not self.outputs:
            return
        first = next(iter(self.outputs.values()))
        where, _ = resolve_data_dir(data_dir)
        paths = [Path(where) / f"{self.split}.{lang}.gz" for lang in ("de", "en")]
        if not all(p.is_file() for p in paths):
            self.data_problem = (f"the test sentences are read from the Multi30k files ({self.split}.de.gz and .en.gz), "
                                 f"not found in {where} (set SEQ2SEQ_DATA_DIR)")
            return
        try:
            sources, references = read_lines(paths[0]), read_lines(paths[1])
        except Exception as e:
            self.data_problem = f"the Multi30k files in {where} cannot be read: {e}"
            return
        if len(sources) != first["sentences"] or text_digest(sources) != first["source_digest"]:
            self.data_problem = f"the {self.split} files in {where} are not the text the test outputs were computed on"
            return
        self.sources, self.references = sources, references

    # ------------------------------------------------------------------ what is there

    @property
    def available(self) -> bool:
        return bool(self.outputs)

    @property
    def ordered(self) -> list[str]:
        """The models with outputs, best BLEU first."""
        return sorted(self.outputs, key=lambda n: -self.outputs[n]["scores"]["bleu"])

    def note(self) -> str:
        """What is missing and how to make it (empty when everything is there)."""
        lines = []
        if not self.outputs:
            return (f"**No per-sentence test outputs found**, so there is nothing to compare on the whole test set. "
                    f"Compute them with `{COMMAND}` (it translates {self.split} at beam {self.beam} with each model, "
                    f"about a minute per model, and writes `test_outputs.json` beside each checkpoint and "
                    f"`significance.json` beside them).")
        if self.problems:
            lines.append("**Left out** (no usable test outputs): " + "; ".join(
                f"`{html.escape(n)}`: {html.escape(why)}" for n, why in self.problems) + f". Run `{COMMAND}`.")
        if self.significance is None and len(self.outputs) > 1:
            lines.append(f"**No significance tests**: {html.escape(self.significance_problem or '')}. Run `{COMMAND}`.")
        return "\n\n".join(lines)

    # ------------------------------------------------------------------ significance (Leaderboard)

    def model_rows(self) -> dict:
        """Each model's BLEU and chrF with its 95% confidence interval (sacreBLEU's bootstrap), best first."""
        data = []
        for n in self.ordered:
            s = self.outputs[n]["scores"]
            m = (self.significance or {}).get("models", {}).get(n, {})
            ci = lambda k: (f"{m[k]['mean'] - m[k]['ci']:.2f} – {m[k]['mean'] + m[k]['ci']:.2f}"   # noqa: E731
                            if k in m else None)
            data.append([n, s["bleu"], ci("bleu"), s["chrf"], ci("chrf")])
        return {"headers": MODEL_HEADERS, "data": data}

    def pairs(self) -> list[list]:
        """Every pair, A the better by BLEU: [a, b, ΔBLEU, p bootstrap, p AR, ΔchrF, p bootstrap, p AR, verdict]
        (differences A − B; the verdict names the metrics whose difference is significant by both tests)."""
        rows = []
        if self.significance:
            order = self.ordered
            for i, a in enumerate(order):
                for b in order[i + 1:]:
                    found = find_pair(self.significance, a, b)
                    if not found:
                        continue
                    pair, sign = found
                    cells = [a, b]
                    for m in ("bleu", "chrf"):
                        e = pair.get(m, {})
                        cells += [round(sign * e["delta"], 2), round(e["p_bootstrap"], 4), round(e["p_ar"], 4)]
                    verdict = [METRIC_NAMES[m] for m in ("bleu", "chrf") if significant(pair, m, self.alpha)]
                    cells.append(" and ".join(verdict) if verdict else "no")
                    rows.append(cells)
        return rows

    def pair_rows(self) -> dict:
        """The Leaderboard's table of the pairs: "A − B" in one (pinned) column, then the rest of ``pairs``."""
        return {"headers": PAIR_HEADERS, "data": [[f"{a} − {b}", *rest] for a, b, *rest in self.pairs()]}

    @property
    def alpha(self) -> float:
        return (self.significance or {}).get("alpha", ALPHA)

    def significance_summary(self) -> str:
        """One paragraph: how many of the pairs differ significantly, and which do not."""
        if not self.significance:
            return ""
        rows = self.pairs()
        same = [f"{a} and {b} (ΔBLEU {d:+.2f}, p {p:.2f})" for a, b, d, p, *_ in rows if not significant(
            find_pair(self.significance, a, b)[0], "bleu", self.alpha)]
        s = self.significance
        text = (f"Paired bootstrap resampling ({s['bootstrap_samples']:,} resamples) and approximate randomization "
                f"({s['ar_trials']:,} trials), sacreBLEU's, on the {s['sentences']:,} sentences of {s['split']} at beam "
                f"{s['beam']}; a difference counts as significant when both tests give p < {self.alpha}. "
                f"**Significant in BLEU: {len(rows) - len(same)} of {len(rows)} {'pair' if len(rows) == 1 else 'pairs'}.**")
        if same:
            text += " Not significant: " + "; ".join(same) + "."
        return text

    # ------------------------------------------------------------------ buckets and coverage (Leaderboard)

    def coverage_rows(self, threshold: float = COVERAGE_THRESHOLD) -> dict:
        """Per model: the aligned source words, the share missed, the share its map left unattended (coverage below
        ``threshold``) and how the two go together, over the test set; computed from the stored per-sentence
        coverage, so any threshold is quick."""
        rows = []
        for n in self.names:
            o = self.outputs.get(n)
            if not o or o.get("aligned") is None:
                continue
            r = coverage_against_missing(o.get("coverage"), o["aligned"], o["missing"], threshold)
            rows.append([n, r["words"], percent(r["share_missing"]), percent(r["share_unattended"]),
                         percent(r["unattended_if_missing"]), percent(r["unattended_if_present"]),
                         percent(r["missing_if_unattended"]), percent(r["missing_if_attended"])])
        return {"headers": COVERAGE_HEADERS, "data": rows}

    def coverage(self, threshold: float = COVERAGE_THRESHOLD) -> dict[str, dict]:
        """Per model with a map and alignments: ``buckets.coverage_against_missing`` at ``threshold``."""
        return {n: coverage_against_missing(o["coverage"], o["aligned"], o["missing"], threshold)
                for n, o in self.outputs.items() if o.get("coverage") is not None and o.get("aligned") is not None}

    # ------------------------------------------------------------------ where two models differ (Compare)

    def rarest_choices(self) -> list[tuple[str, int]]:
        """The rarest-word filter's choices: (label with its number of sentences, bucket), "any" first (-1)."""
        counts = [0] * (len(RAREST_CUTOFFS) + 1)
        first = next(iter(self.outputs.values()), None)
        if first:
            from ..analysis.buckets import bucket_of

            for v in first["rarest_count"]:
                counts[bucket_of(v, RAREST_CUTOFFS)] += 1
        return [("any", -1)] + [(f"{RAREST_LABELS.get(name, name)} ({n})", b)
                                for b, (name, n) in enumerate(zip(bucket_names(RAREST_CUTOFFS), counts))]

    def max_length(self) -> int:
        first = next(iter(self.outputs.values()), None)
        return max(first["source_length"]) if first else 50

    def differences(self, a: str, b: str, metric: str = "bleu", order: str = "either", min_len=None, max_len=None,
                    rarest=-1, limit: int = LIST_LENGTH) -> tuple[dict, list[int], str]:
        """The Compare list: (a frame of the sentences where ``a`` and ``b`` differ most by sentence ``metric``,
        their sentence indices, a line saying what is listed)."""
        headers = list_headers(a, b)
        empty = {"headers": headers, "data": []}
        missing = [n for n in (a, b) if n not in self.outputs]
        if missing:
            return empty, [], (f"No test outputs for {', '.join(missing)}: run `{COMMAND}`." if self.names else "")
        if order not in ORDERS:
            order = "either"
        key = "sentence_chrf" if metric == "chrf" else "sentence_bleu"
        oa, ob = self.outputs[a], self.outputs[b]
        bucket = None if rarest is None or int(rarest) < 0 else int(rarest)
        low = int(min_len) if min_len and int(min_len) > 1 else None                       # 1: no lower bound
        high = int(max_len) if max_len and int(max_len) < self.max_length() else None     # the longest: no bound
        ranked = rank_differences(oa[key], ob[key], order, oa["source_length"], (low, high), oa["rarest_count"], bucket)
        shown = ranked[:limit]
        data = []
        for i, d in shown:
            source = self.sources[i] if self.sources else "(German not found: see above)"
            reference = self.references[i] if self.references else ""
            data.append([i + 1, round(d, 1), round(oa[key][i], 1), round(ob[key][i], 1), source, oa["hypotheses"][i],
                         ob["hypotheses"][i], reference])
        name = f"sentence {METRIC_NAMES.get(metric, metric)}"
        filters = []
        if low or high:
            filters.append(f"{low or 1}–{high or '…'} source words")
        if bucket is not None:
            filters.append(RAREST_LABELS.get(bucket_names(RAREST_CUTOFFS)[bucket], ""))
        where = f" among those with {', '.join(filters)}" if filters else ""
        if a == b:
            line = "Choose two different models: a model never differs from itself."
        elif not ranked:
            line = f"No test sentence{where} where {html.escape(a)} and {html.escape(b)} differ in {name} that way."
        else:
            line = (f"**{len(ranked)}** test sentences{where} where A ({html.escape(a)}) and B ({html.escape(b)}) differ "
                    f"in {name}, {ORDERS[order]}; the first {len(shown)} listed (translations: beam {self.beam}, "
                    f"as the metric reads them). **Click a sentence** to compare the two maps along its reference "
                    f"and to open it in Inspect.")
        if self.data_problem:
            line += f"  \n*The German and the references are missing: {html.escape(self.data_problem)}.*"
        return {"headers": headers, "data": data}, [i for i, _ in shown], line

    def sentence(self, index: int) -> tuple[str, str] | None:
        """The German and the reference of test sentence ``index`` (0-based), or None without the data."""
        if self.sources is None or not 0 <= index < len(self.sources):
            return None
        return self.sources[index], self.references[index]
