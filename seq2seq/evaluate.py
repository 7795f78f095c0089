"""Score a checkpoint: sacreBLEU corpus BLEU and chrF on a Multi30k split.

    python -m seq2seq.evaluate checkpoints/transformer --beam 5 [--split test_2016_flickr] [--json]
    python -m seq2seq.evaluate hf://USER/NAME/transformer        # a model repository folder, via the Hub cache
    python -m seq2seq.evaluate checkpoints/mine --files test.de test.en   # your own corpus (or one TSV file)
    python -m seq2seq.evaluate Helsinki-NLP/opus-mt-de-en --download      # a Hugging Face translation model
    python -m seq2seq.evaluate models/opus-mt-de-en --save                 # ...its scores into its metrics.json

The BLEU every table in this project quotes: ``tokenize="none"`` over lowercased spaCy tokens
joined by single spaces (hypotheses after ``<unk>`` replacement; a subword model's detokenized output
re-tokenized by spaCy), against references tokenized
the same way -- the metric of the well-known PyTorch seq2seq tutorials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import sacrebleu
import torch

from .data import CorpusError, DataNotFoundError, load_corpus, load_split


def corpus_scores(hypotheses: list[list[str]], references: list[list[str]]) -> dict:
    """BLEU and chrF of token lists (already lowercased and tokenized)."""
    hyps = [" ".join(h) for h in hypotheses]
    refs = [[" ".join(r) for r in references]]
    bleu = sacrebleu.BLEU(tokenize="none", force=True)  # tokenized on purpose
    score = bleu.corpus_score(hyps, refs)
    chrf = sacrebleu.corpus_chrf(hyps, refs)
    return {"bleu": round(score.score, 2), "chrf": round(chrf.score, 2), "bleu_signature": str(bleu.get_signature())}


def sentence_bleu(hypothesis: list[str], reference: list[str]) -> float:
    return sacrebleu.sentence_bleu(" ".join(hypothesis), [" ".join(reference)], tokenize="none").score


def sentence_chrf(hypothesis: list[str], reference: list[str]) -> float:
    """chrF of one sentence, as corpus_scores' chrF reads token lists (sacreBLEU's defaults, chrF2)."""
    return sacrebleu.sentence_chrf(" ".join(hypothesis), [" ".join(reference)]).score


def evaluate(translator, split, beam_size: int = 1, length_penalty: float = 1.0, batch_size: int = 128) -> dict:
    """Translate ``split.src_text`` and score against ``split.trg_tokens``."""
    start = time.perf_counter()
    translations = translator.translate(split.src_text, beam_size=beam_size, length_penalty=length_penalty,
                                        batch_size=batch_size)
    seconds = time.perf_counter() - start
    scores = corpus_scores([translator.words(t) for t in translations], split.trg_tokens)
    scores.update(split=split.name, beam=beam_size, sentences=len(split), seconds=round(seconds, 2),
                  sentences_per_second=round(len(split) / seconds, 1))
    return scores


def save_scores(translator, scores: dict) -> None:
    """Merge ``scores`` into the model directory's metrics.json as ``test.greedy`` or ``test.beamK``, with what
    the Leaderboard shows beside them (architecture, paper, parameters)."""
    from .checkpoint import read_metrics, write_json

    metrics = read_metrics(translator.path)
    key = "greedy" if scores["beam"] == 1 else f"beam{scores['beam']}"
    metrics.setdefault("test", {})[key] = {k: v for k, v in scores.items() if k != "arch"}
    model = translator.model
    metrics.update(arch=translator.arch, paper=metrics.get("paper") or model.paper,
                   parameters=metrics.get("parameters") or model.num_parameters())
    write_json(translator.path / "metrics.json", metrics)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint directory, or hf://USER/NAME[@REVISION][/MODEL]")
    parser.add_argument("--split", default="test_2016_flickr", help="reads SPLIT.{src}.gz and SPLIT.{trg}.gz")
    parser.add_argument("--files", nargs="+", metavar="FILE",
                        help="score on your own corpus instead: SRC_FILE TRG_FILE, or one TSV file (plain or .gz)")
    parser.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy)")
    parser.add_argument("--length-penalty", type=float, default=1.0)
    parser.add_argument("--data-dir", help="Multi30k directory (default: $SEQ2SEQ_DATA_DIR, then data/multi30k)")
    parser.add_argument("--limit", type=int, help="score only the first N sentences")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--download", action="store_true",
                        help="a Hugging Face Hub id may be fetched when it is not in the local cache")
    parser.add_argument("--save", action="store_true",
                        help="keep the scores in the model directory's metrics.json (test.greedy or test.beamK), "
                             "where the Leaderboard reads them; e.g. for a Hugging Face model saved with save_pretrained")
    args = parser.parse_args(argv)

    from .checkpoint import CheckpointError
    from .tools.hub import resolve_model
    from .translator import load_checkpoint

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        translator = load_checkpoint(resolve_model(args.checkpoint), device, download=args.download or None)
        if args.save and (translator.path is None or args.limit or args.files):
            raise CheckpointError("--save keeps the scores of the whole test split in a model directory's "
                                  "metrics.json: give a directory, and neither --limit nor --files")
        src, trg = translator.config["src_lang"], translator.config["trg_lang"]
        split = load_corpus("test", args.files, src, trg) if args.files else load_split(args.split, src, trg, args.data_dir)
    except (CheckpointError, DataNotFoundError, CorpusError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scores = evaluate(translator, split.limit(args.limit), args.beam, args.length_penalty)
    scores["arch"] = translator.arch
    if args.save:
        save_scores(translator, scores)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{translator.arch} {split.name if args.files else args.split} beam={args.beam}: BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  "
              f"({scores['sentences']} sentences, {scores['seconds']:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
