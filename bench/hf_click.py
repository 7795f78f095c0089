"""What a click costs with an opus-mt-sized Marian model on this machine, without downloading one.

    python bench/hf_click.py [--threads 2] [--repeats 5]

Helsinki-NLP/opus-mt-de-en is a MarianMT of 6 + 6 layers, width 512, 8 heads, feed-forward 2048 and 58,101
tokens (about 74M parameters). Its compute does not depend on its weights, so this builds that architecture
with random weights (and a small SentencePiece tokenizer trained on the test slice), saves it with
save_pretrained and times, through the project's Translator: loading it, one greedy translation of the demo
sentence forced to 16 output tokens (what a Translate click runs for an attention model's card), the same at
beam 5, and integrated gradients over it (the card's attribution map); and, in the same run, the shipped
word-level Transformer (checkpoints/transformer) on the same sentence, so the ratio holds on any machine.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from transformers import MarianConfig, MarianMTModel

    from conftest import build_tiny_marian
    from seq2seq.analysis.attribution import attribute
    from seq2seq.explorer.examples import DEMO
    from seq2seq.translator import load_checkpoint

    torch.set_num_threads(args.threads)           # after the imports (the tests' conftest sets one thread)

    with tempfile.TemporaryDirectory() as tmp:
        d = build_tiny_marian(Path(tmp) / "marian", ROOT / "tests" / "data" / "multi30k")
        small = MarianConfig.from_pretrained(d)
        config = MarianConfig(vocab_size=58101, decoder_vocab_size=58101, d_model=512, encoder_layers=6,
                              decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8,
                              encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512,
                              pad_token_id=58100, eos_token_id=0, decoder_start_token_id=58100,
                              scale_embedding=True, share_encoder_decoder_embeddings=True)
        torch.manual_seed(0)
        model = MarianMTModel(config).eval()
        with torch.no_grad():
            model.final_logits_bias[0, 0] = -1e4      # never </s>: every translation is 16 tokens long
        del small
        model.save_pretrained(d)
        size = sum(f.stat().st_size for f in d.iterdir())
        start = time.perf_counter()
        translator = load_checkpoint(d)
        load = time.perf_counter() - start

        def timed(fn) -> float:
            fn()                                       # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return sorted(times)[len(times) // 2]

        greedy = timed(lambda: translator.translate([DEMO], max_len=16))
        beam = timed(lambda: translator.translate([DEMO], beam_size=5, max_len=16))
        [t] = translator.translate([DEMO], max_len=16)
        src_ids, trg_ids = translator.ids(t)
        ig = timed(lambda: attribute(translator.model, src_ids, trg_ids, "integrated_gradients"))
        ours = load_checkpoint(ROOT / "checkpoints" / "transformer")
        ours_greedy = timed(lambda: ours.translate([DEMO]))
        ours_beam = timed(lambda: ours.translate([DEMO], beam_size=5))
    print(json.dumps({
        "model": "MarianMT, opus-mt-de-en's shape (random weights)",
        "parameters": sum(p.numel() for p in model.parameters()), "saved_mb": round(size / 1e6, 1),
        "source_pieces": len(t.src_tokens), "output_tokens": 16, "threads": args.threads,
        "load_s": round(load, 2), "greedy_s": round(greedy, 3), "beam5_s": round(beam, 3),
        "integrated_gradients_s": round(ig, 2),
        "project_transformer_greedy_s": round(ours_greedy, 3), "project_transformer_beam5_s": round(ours_beam, 3),
        "greedy_ratio": round(greedy / ours_greedy, 1), "beam5_ratio": round(beam / ours_beam, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "date": time.strftime("%Y-%m-%d")}))


if __name__ == "__main__":
    main()
