"""docs/paper-fidelity.md, generated from each model's ``paper_differences`` (seq2seq/models/*.py) by
:func:`seq2seq.explorer.text.paper_fidelity_document`, the text the About tab also shows.

    python -m seq2seq.tools.fidelity            # rewrite docs/paper-fidelity.md
    python -m seq2seq.tools.fidelity --check    # exit 1 if the file is not what it would be
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..explorer.text import paper_fidelity_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "paper-fidelity.md"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if the file differs")
    p.add_argument("--out", type=Path, default=DOC, help=f"the file (default {DOC})")
    args = p.parse_args(argv)
    text = paper_fidelity_document()
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'out of date; run python -m seq2seq.tools.fidelity'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
