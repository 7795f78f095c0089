"""The results table, generated from each checkpoint's ``metrics.json``.

    python -m seq2seq.tools.report                 # print the markdown table
    python -m seq2seq.tools.report --update README.md   # rewrite the table between its markers
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..checkpoint import find_checkpoints, read_metrics

# BLEU of the PyTorch seq2seq tutorial series on the same test set and metric.
TUTORIAL_BLEU = {"lstm": 13.8, "gru": 20.6, "bahdanau": 28.3, "convs2s": 34.1, "transformer": 36.5}
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _score(test: dict, key: str, field: str) -> str:
    value = test.get(key, {}).get(field)
    return "—" if value is None else f"{value:.2f}"


def _duration(seconds) -> str:
    if not seconds:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "< 1 min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def results_table(root="checkpoints") -> str:
    """One markdown row per checkpoint under ``root``: sizes, test BLEU/chrF, training cost."""
    rows = ["| model | paper | parameters | size | BLEU greedy | BLEU beam 5 | chrF greedy | chrF beam 5 | tutorial BLEU | training | hardware | command |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    for path in find_checkpoints(root):
        m = read_metrics(path)
        if not m:
            continue
        test = m.get("test", {})
        beam = next((k for k in test if k.startswith("beam")), "beam5")
        size = m.get("size_bytes") or (path / "model.safetensors").stat().st_size
        rows.append(" | ".join([
            f"| `{m.get('arch', path.name)}`", m.get("paper", ""), f"{m.get('parameters', 0) / 1e6:.1f} M",
            f"{size / 2**20:.1f} MB", _score(test, "greedy", "bleu"), _score(test, beam, "bleu"),
            _score(test, "greedy", "chrf"), _score(test, beam, "chrf"),
            str(TUTORIAL_BLEU.get(m.get("arch"), "—")), _duration(m.get("train_seconds")),
            m.get("hardware", "—"), f"`{m.get('command', '')}` |"]))
    return "\n".join(rows)


def update_readme(readme: Path, table: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{table}\n{END}", text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.tools.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--update", metavar="README", help="rewrite the table between the results markers")
    args = parser.parse_args(argv)
    table = results_table(args.checkpoints)
    if args.update:
        update_readme(Path(args.update), table)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
