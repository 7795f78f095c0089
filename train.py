"""Train a sequence-to-sequence model on Multi30k and write a checkpoint the app loads.

    python train.py --arch transformer          # one architecture, with its recipe
    python train.py --arch all                  # all six in turn
    python train.py --arch gru --epochs 1       # override any part of the recipe
    python train.py --arch transformer --resume # continue a killed run
    python train.py --family                    # the attention family, one Luong model per score
    python train.py --family dot cosine         # some members of it
    python train.py --arch transformer --vocab sentencepiece --vocab-size 8000   # subword pieces
    python train.py --arch convs2s_paper        # a preset: the paper's variant (seq2seq/models/base.py)

Each epoch: teacher-forced training with label smoothing, then validation loss, perplexity
and BLEU (greedy); the checkpoint with the best validation BLEU is kept, training stops
early when it has not improved for ``--patience`` epochs. At the end the kept checkpoint is
scored on the test split (greedy and beam 5) into ``metrics.json``.

The resumable state (fp32 weights, optimizer, RNG, history) is written atomically after
every epoch to ``OUT/resume/`` (git-ignored); ``--resume`` picks it up.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shlex
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from seq2seq import ARCHITECTURES, build_model
from seq2seq.checkpoint import CheckpointError, atomic_write, load_model, read_json, save_checkpoint, write_json
from seq2seq.data import (PAD_IDX, CorpusError, DataNotFoundError, SubwordTokenizer, Vocab, bucket, bucketed_batches, encode_pairs,
                          load_corpus, load_split, train_sentencepiece)
from seq2seq.distributed import Context, all_sum, barrier, broadcast, setup, shutdown
from seq2seq.evaluate import evaluate
from seq2seq.models.base import PRESETS, resolve
from seq2seq.models.luong import FAMILY, family_hparams
from seq2seq.analysis.probes import record_probes
from seq2seq.translator import Translator

# How each shipped checkpoint was trained: optimisation only. The model's hyper-parameters are its
# Config defaults (seq2seq/models/<arch>.py), which this file never overrides; --set changes them for one run.
RECIPES: dict[str, dict] = {
    "lstm": dict(lr=3e-3, warmup_steps=200, epochs=18, max_tokens=3000, clip=1.0),
    "gru": dict(lr=3e-3, warmup_steps=200, epochs=16, max_tokens=3000, clip=1.0),
    "bahdanau": dict(lr=2e-3, warmup_steps=300, epochs=14, max_tokens=3000, clip=1.0),
    "luong": dict(lr=2e-3, warmup_steps=200, epochs=12, max_tokens=3000, clip=1.0),
    "convs2s": dict(lr=1.5e-3, warmup_steps=400, epochs=18, max_tokens=3000, clip=0.5),
    "transformer": dict(lr=1e-3, warmup_steps=800, epochs=18, max_tokens=2500, clip=1.0),
    # Every member of the attention family (seq2seq/models/luong.py's FAMILY presets) trains with this one recipe.
    "family": dict(lr=3e-3, warmup_steps=200, epochs=12, max_tokens=3000, clip=1.0),
}
DEFAULTS = dict(label_smoothing=0.1, weight_decay=1e-4, patience=5, seed=1, min_freq=2)


# SEQ2SEQ_KILL_AT=RANK:STEP makes that process kill itself (SIGKILL) after that optimizer step: how the
# tests show that a run killed on any rank resumes.
KILL_AT = tuple(int(x) for x in os.environ["SEQ2SEQ_KILL_AT"].split(":")) if os.environ.get("SEQ2SEQ_KILL_AT") else None


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=[*ARCHITECTURES, *PRESETS, "all"],
                   help="an architecture, all six, or a preset (an architecture with some hyper-parameters changed, "
                        "trained with its architecture's recipe): "
                        + "; ".join(f"{name}: {preset.about}" for name, preset in PRESETS.items()))
    p.add_argument("--family", nargs="*", metavar="MEMBER", choices=list(FAMILY),
                   help=f"train members of the attention family (all when none is named): {', '.join(FAMILY)}")
    p.add_argument("--out", help="checkpoint directory (default: checkpoints/ARCH)")
    p.add_argument("--data-dir", help="Multi30k directory (default: $SEQ2SEQ_DATA_DIR, then data/multi30k)")
    p.add_argument("--train", nargs="+", metavar="FILE",
                   help="your own corpus instead of Multi30k: SRC_FILE TRG_FILE (one sentence a line, plain or .gz) "
                        "or one TSV file (source<TAB>target); needs --valid")
    p.add_argument("--valid", nargs="+", metavar="FILE", help="validation files, as --train (selects the checkpoint)")
    p.add_argument("--test", nargs="+", metavar="FILE", help="test files, as --train (scored into metrics.json)")
    p.add_argument("--src", default="de", help="source language: a spaCy language code (Multi30k: en, de, fr, cs)")
    p.add_argument("--trg", default="en", help="target language: a spaCy language code (Multi30k: en, de, fr, cs)")
    p.add_argument("--vocab", choices=["word", "sentencepiece"], default="word",
                   help="word: spaCy tokens, rare ones <unk> (default); sentencepiece: subword pieces trained on the "
                        "training split and stored in the checkpoint")
    p.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece: pieces per vocabulary (default 8000)")
    p.add_argument("--sp-model", choices=["bpe", "unigram"], default="bpe", help="SentencePiece: the segmentation model")
    p.add_argument("--separate-vocabs", dest="joint", action="store_false",
                   help="SentencePiece: one model per language (default: one joint model for both)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-tokens", type=int, help="batch size in (padded) tokens per side, per process")
    p.add_argument("--update-freq", type=int, help="accumulate this many batches per optimizer step (default 1); "
                                                    "the global batch is update-freq x processes batches")
    p.add_argument("--max-steps", type=int, default=0, metavar="STEPS",
                   help="stop after this many optimizer steps in all (then validate, save and score as usual)")
    p.add_argument("--save-every", type=int, default=0, metavar="STEPS",
                   help="also save the resumable state every STEPS optimizer steps (default: after each epoch only)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--clip", type=float, help="gradient-norm clipping")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--dropout", type=float, help="the model's dropout")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any model hyper-parameter, e.g. --set d_model=512 --set score=dot (repeatable)")
    p.add_argument("--patience", type=int, help="stop after this many epochs without better validation BLEU")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-autocast", dest="autocast", action="store_false",
                   help="train in float32 on CUDA (default: bfloat16 autocast on CUDA; the CPU is always float32)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/resume if it exists")
    p.add_argument("--limit", type=int, help="train on the first N pairs only (smoke tests)")
    p.add_argument("--val-limit", type=int, help="validate on the first N pairs only")
    p.add_argument("--test-beam", type=int, default=5, help="beam size of the final test score (0: skip the test score)")
    p.add_argument("--push-to-hub", metavar="USER/NAME", help="upload the checkpoint to this Hub model repo at the end")
    args = p.parse_args(argv)
    if (args.arch is None) == (args.family is None):
        p.error("give one of --arch or --family")
    for name in ("train", "valid", "test"):
        if getattr(args, name) and len(getattr(args, name)) > 2:
            p.error(f"--{name} takes two files (source, target) or one TSV file")
    if bool(args.train) != bool(args.valid):
        p.error("--train and --valid go together (a checkpoint is selected on validation, never on test)")
    if args.test and not args.train:
        p.error("--test goes with --train (without them, Multi30k's test_2016_flickr is scored)")
    return args


def recipe_for(arch: str, args: argparse.Namespace, member: str | None = None) -> dict:
    """The architecture's (attention-family member's, preset's) recipe with the command line's overrides applied.
    A preset trains with its architecture's recipe and its own hyper-parameters."""
    arch, preset = resolve(arch)
    recipe = {**DEFAULTS, **RECIPES["family" if member else arch]}
    recipe["hparams"] = family_hparams(member) if member else preset    # on top of the Config defaults
    for key in ("epochs", "max_tokens", "lr", "warmup_steps", "label_smoothing", "clip", "weight_decay", "patience", "seed",
                "update_freq"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    if args.vocab == "sentencepiece":
        recipe["vocab"] = {"type": "sentencepiece", "model_type": args.sp_model, "vocab_size": args.vocab_size,
                           "joint": args.joint}
    fields = {f.name: f for f in dataclasses.fields(ARCHITECTURES[arch].Config)}
    if args.dropout is not None:
        recipe["hparams"]["dropout"] = args.dropout
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in fields:
            raise SystemExit(f"error: {arch} has no hyper-parameter {name!r}; it has {', '.join(fields)}")
        kind = type(fields[name].default)
        recipe["hparams"][name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return recipe


def hardware(ctx: Context) -> str:
    processes = f", {ctx.world_size} processes (DistributedDataParallel)" if ctx.distributed else ""
    if ctx.device.type == "cuda":
        return torch.cuda.get_device_name(ctx.device) + processes
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{name}, {os.cpu_count()} CPU cores (torch on {threads} thread{'s' if threads > 1 else ''}){processes}"


def lr_at(step: int, recipe: dict, total_steps: int) -> float:
    """Linear warm-up to the peak, then cosine decay to 5% of it at the last step."""
    peak, warmup = recipe["lr"], recipe["warmup_steps"]
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


# ---------------------------------------------------------------------------- resumable state


def save_state(directory: Path, model, optimizer, info: dict) -> None:
    """Everything needed to continue: fp32 weights, optimizer moments, RNG, progress."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for name, value in state.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    info = {**info, "param_groups": opt["param_groups"]}
    # The progress travels in the weights file's metadata, so one rename replaces both: a run killed
    # between the two writes below cannot pair one epoch's weights with another epoch's progress.
    metadata = {"info": json.dumps(info)}
    atomic_write(directory / "state.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    write_json(directory / "state.json", info)  # a readable copy


def load_state(directory: Path, model, optimizer) -> dict:
    with safe_open(str(directory / "state.safetensors"), "pt") as f:
        saved = (f.metadata() or {}).get("info")
    info = json.loads(saved) if saved else read_json(directory / "state.json")  # older states: state.json
    tensors = load_file(str(directory / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": info.pop("param_groups")})
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return info


# ---------------------------------------------------------------------------- training


def build_vocabs(split, args: argparse.Namespace, recipe: dict, resume_dir: Path | None = None) -> tuple[Vocab, Vocab]:
    """The vocabularies of a run: spaCy words seen ``min_freq`` times, or SentencePiece models trained on
    the training split (kept in ``resume/`` so a resumed run reads its text the same way)."""
    if args.vocab == "word":
        return Vocab.build(split.src_tokens, recipe["min_freq"]), Vocab.build(split.trg_tokens, recipe["min_freq"])
    saved = [resume_dir / f"{side}_spm.model" for side in ("src", "trg")] if resume_dir else []
    if saved and all(p.is_file() for p in saved):
        src_sp, trg_sp = (SubwordTokenizer.from_file(p) for p in saved)
    elif args.joint:
        src_sp = trg_sp = train_sentencepiece([*split.src_text, *split.trg_text], args.vocab_size, args.sp_model,
                                              seed=recipe["seed"])
    else:
        src_sp = train_sentencepiece(split.src_text, args.vocab_size, args.sp_model, seed=recipe["seed"])
        trg_sp = train_sentencepiece(split.trg_text, args.vocab_size, args.sp_model, seed=recipe["seed"])
    return Vocab.from_sentencepiece(src_sp), Vocab.from_sentencepiece(trg_sp)


def token_loss(model, batch, label_smoothing: float) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the target tokens of one batch (teacher forcing), and their number."""
    logits = model(batch.src, batch.src_lens, batch.trg[:, :-1])   # [B, T, V]
    gold = batch.trg[:, 1:]                                          # [B, T]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), gold.reshape(-1), ignore_index=PAD_IDX,
                           label_smoothing=label_smoothing, reduction="sum")
    return loss, int((gold != PAD_IDX).sum())


def batch_loss(model, batch, label_smoothing: float) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy per target token of one batch."""
    loss, n = token_loss(model, batch, label_smoothing)
    return loss / n, n


@torch.no_grad()
def validation_loss(model, batches) -> float:
    model.eval()
    total, tokens = 0.0, 0
    for batch in batches:
        loss, n = batch_loss(model, batch, 0.0)
        total, tokens = total + loss.item() * n, tokens + n
    return total / tokens


def load_data(args: argparse.Namespace):
    """The training and validation splits: Multi30k, or the corpus files named by --train and --valid."""
    if args.train:
        train_split = load_corpus("train", args.train, args.src, args.trg)
        val_split = load_corpus("valid", args.valid, args.src, args.trg)
    else:
        train_split = load_split("train", args.src, args.trg, args.data_dir)
        val_split = load_split("val", args.src, args.trg, args.data_dir)
    return train_split.limit(args.limit), val_split.limit(args.val_limit)


def load_test(args: argparse.Namespace):
    if args.train:
        return load_corpus("test", args.test, args.src, args.trg) if args.test else None
    return load_split("test_2016_flickr", args.src, args.trg, args.data_dir)


def train(arch: str, args: argparse.Namespace, member: str | None = None, ctx: Context | None = None) -> Path:
    """Train ``arch`` (an architecture or a preset, which then names the checkpoint directory and the log)."""
    ctx = ctx or Context(device=torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                                             if args.device == "auto" else args.device))
    recipe = recipe_for(arch, args, member)
    if member:
        out = Path(args.out or "checkpoints/family") / member
    else:
        out = Path(args.out) / arch if args.arch == "all" and args.out else Path(args.out or f"checkpoints/{arch}")
    resume_dir, device, log = out / "resume", ctx.device, (print if ctx.main else (lambda *a, **k: None))
    torch.manual_seed(recipe["seed"])   # the same initial weights on every process

    train_split, val_split = load_data(args)
    if ctx.main:   # rank 0 trains the SentencePiece models and tokenizes into the cache; the others read both
        src_vocab, trg_vocab = build_vocabs(train_split, args, recipe, resume_dir if args.resume else None)
        for side, vocab in (("src", src_vocab), ("trg", trg_vocab)):   # a resumed run reads its text the same way
            if vocab.subword:
                atomic_write(resume_dir / f"{side}_spm.model", lambda tmp, v=vocab: tmp.write_bytes(v.tokenizer.model_proto))
        train_pairs = encode_pairs(train_split, src_vocab, trg_vocab, cache=True)
    barrier(ctx)
    if not ctx.main:
        src_vocab, trg_vocab = build_vocabs(train_split, args, recipe, resume_dir)
        train_pairs = encode_pairs(train_split, src_vocab, trg_vocab, cache=True)
    n_train = len(train_split)
    del train_split   # from here on the training text lives only as ids (memory-mapped from the cache)

    model = build_model(arch, len(src_vocab), len(trg_vocab), **recipe["hparams"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"], betas=(0.9, 0.98), eps=1e-9,
                                 weight_decay=recipe["weight_decay"])
    # One optimizer step reads update_freq batches on each of world_size processes: the global batch.
    update_freq = recipe.get("update_freq", 1)   # in the recipe only when asked for (--update-freq)
    per_step = ctx.world_size * update_freq
    steps_per_epoch = len(bucket(train_pairs, recipe["max_tokens"], True, recipe["seed"], 0)) // per_step
    if steps_per_epoch == 0:
        raise SystemExit(f"error: the training split makes fewer than {per_step} batches (world size "
                         f"{ctx.world_size} x --update-freq {update_freq}); use a smaller --max-tokens")
    total_steps = steps_per_epoch * recipe["epochs"]
    if member:
        argv = ["--family", member, *command_options(sys.argv[1:])]
    else:
        argv = [a for a in sys.argv[1:] if a != "--resume"] if args.arch != "all" else ["--arch", arch]
    launcher = f"torchrun --nproc_per_node={ctx.world_size}" if ctx.distributed else "python"
    command = f"{launcher} train.py " + " ".join(shlex.quote(a) for a in argv)  # what reproduces this checkpoint
    info = {"epoch": 0, "step": 0, "epoch_step": 0, "epoch_loss": 0.0, "epoch_tokens": 0, "epoch_seconds": 0.0,
            "best_bleu": -1.0, "best_epoch": 0, "seconds": 0.0, "history": [], "recipe": recipe, "command": command,
            "family": member}
    if ctx.main:
        for stale in [*out.glob(".*.tmp"), *resume_dir.glob(".*.tmp")]:  # left by a killed run
            stale.unlink()
    barrier(ctx)
    if args.resume and (resume_dir / "state.safetensors").is_file():
        info = {"epoch_step": 0, "epoch_loss": 0.0, "epoch_tokens": 0, "epoch_seconds": 0.0,
                **load_state(resume_dir, model, optimizer)}
        info["recipe"] = recipe  # what the rest of the run uses (warm-up does not depend on the epoch count)
        where = f"step {info['epoch_step']} of epoch {info['epoch'] + 1}" if info["epoch_step"] else f"epoch {info['epoch']}"
        log(f"[{arch}] resumed after {where} (best validation BLEU {info['best_bleu']:.2f})")
    elif out.joinpath("config.json").exists() and not args.resume:
        log(f"[{arch}] {out} exists; training from scratch overwrites it (use --resume to continue)")
    if ctx.rank:
        torch.manual_seed(recipe["seed"] + ctx.rank)   # each process its own dropout
    net = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=False)   # every architecture uses every parameter each step

    log(f"[{arch}] {model.num_parameters():,} parameters on {device}"
        f"{f' x {ctx.world_size} processes' if ctx.distributed else ''}; {n_train} training pairs, "
        f"{steps_per_epoch} steps/epoch; vocab {len(src_vocab)} {args.src} / {len(trg_vocab)} {args.trg}")
    use_amp = device.type == "cuda" and args.autocast
    val_batches = []   # rank 0 validates alone
    if ctx.main:
        val_pairs = encode_pairs(val_split, src_vocab, trg_vocab)
        val_batches = [b.to(device) for b in bucketed_batches(val_pairs, recipe["max_tokens"], False)]
    translator = Translator(model, src_vocab, trg_vocab, {"arch": model.arch, "src_lang": args.src, "trg_lang": args.trg})

    for epoch in range(info["epoch"], recipe["epochs"]):
        if args.max_steps and info["step"] >= args.max_steps:
            break
        if epoch - info["best_epoch"] >= recipe["patience"] and info["best_epoch"] > 0:
            log(f"[{arch}] early stop: no better validation BLEU for {recipe['patience']} epochs")
            break
        model.train()
        start = time.perf_counter() - info["epoch_seconds"]
        batches = bucket(train_pairs, recipe["max_tokens"], True, recipe["seed"], epoch)   # the same on every process
        bar = tqdm(range(info["epoch_step"], steps_per_epoch), desc=f"{arch} epoch {epoch + 1}/{recipe['epochs']}",
                   leave=False, disable=not (ctx.main and sys.stderr.isatty()), dynamic_ncols=True)
        for k in bar:
            first = k * per_step + ctx.rank * update_freq   # this process's share of the global batch
            mine = [train_pairs.batch(index).to(device) for index in batches[first: first + update_freq]]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(info["step"], recipe, total_steps)
            loss_sum, n = train_step(net, optimizer, mine, recipe, ctx, use_amp)
            if not math.isfinite(loss_sum):
                raise TrainingDiverged(f"{arch}: the loss became {loss_sum} at epoch {epoch + 1}, step {info['step']}; "
                                       f"the last good checkpoint is kept in {out}. Try a lower --lr or --clip.")
            info["step"] += 1
            info["epoch_step"] = k + 1
            if KILL_AT == (ctx.rank, info["step"]):   # fault injection for the tests: die as a killed process does
                os.kill(os.getpid(), signal.SIGKILL)
            info["epoch_loss"] += loss_sum
            info["epoch_tokens"] += n
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{info['epoch_loss'] / info['epoch_tokens']:.3f}",
                            tok_s=f"{info['epoch_tokens'] / elapsed:.0f}")
            if args.max_steps and info["step"] >= args.max_steps:
                break
            if args.save_every and info["step"] % args.save_every == 0 and k + 1 < steps_per_epoch:
                info["epoch_seconds"] = elapsed
                if ctx.main:
                    save_state(resume_dir, model, optimizer, info)
                barrier(ctx)
        train_seconds = time.perf_counter() - start
        total_loss, total_tokens = info["epoch_loss"], info["epoch_tokens"]

        if ctx.main:
            val_loss = validation_loss(model, val_batches)
            val_bleu = evaluate(translator, val_split, beam_size=1)["bleu"] if math.isfinite(val_loss) else float("nan")
        else:
            val_loss = val_bleu = None
        val_loss, val_bleu = broadcast(ctx, (val_loss, val_bleu))   # every process takes the same decisions
        if not math.isfinite(val_loss):  # nothing of this epoch is saved
            raise TrainingDiverged(f"{arch}: the validation loss became {val_loss} after epoch {epoch + 1}; the last good "
                                   f"checkpoint is kept in {out}. Try a lower --lr or --clip.")
        info["seconds"] += time.perf_counter() - start
        info.update(epoch=epoch + 1, epoch_step=0, epoch_loss=0.0, epoch_tokens=0, epoch_seconds=0.0)
        record = {"epoch": epoch + 1, "train_loss": round(total_loss / total_tokens, 4), "val_loss": round(val_loss, 4),
                  "val_ppl": round(math.exp(val_loss), 2), "val_bleu": val_bleu, "seconds": round(train_seconds, 1)}
        info["history"].append(record)
        improved = val_bleu > info["best_bleu"]
        if improved:
            info["best_bleu"], info["best_epoch"] = val_bleu, epoch + 1
        if ctx.main:
            if improved:
                save_checkpoint(out, model, src_vocab, trg_vocab, args.src, args.trg)
            record_probes(out / "probes.json", translator, epoch + 1)
            save_state(resume_dir, model, optimizer, info)
        barrier(ctx)
        log(f"[{arch}] epoch {epoch + 1}: train loss {record['train_loss']:.3f}, val loss {val_loss:.3f} "
            f"(ppl {record['val_ppl']:.1f}), val BLEU {val_bleu:.2f}{' *' if improved else ''}, "
            f"{train_seconds:.0f}s ({total_tokens / train_seconds:.0f} tok/s)", flush=True)

    if ctx.main:
        write_metrics(out, arch, info, args, ctx)
        if args.push_to_hub:
            from seq2seq.tools.hub import push_models

            push_models(out, args.push_to_hub)
    barrier(ctx)
    return out


def train_step(net, optimizer, batches: list, recipe: dict, ctx: Context, use_amp: bool) -> tuple[float, int]:
    """One optimizer step on this process's share of the global batch; returns the global batch's summed
    loss and target-token count. Each token weighs 1/(the global batch's tokens), whichever process and
    micro-batch it is in, so N processes with a batch each take the very step one process takes on the N
    batches together (DistributedDataParallel averages the gradients: each process scales by N)."""
    n_local = sum(b.num_target_tokens for b in batches)
    [n_global] = all_sum(ctx, n_local)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for j, batch in enumerate(batches):
        last = j == len(batches) - 1
        sync = net.no_sync() if ctx.distributed and not last else contextlib.nullcontext()   # all-reduce once a step
        with sync:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                loss, _ = token_loss(net, batch, recipe["label_smoothing"])
            (loss * ctx.world_size / n_global).backward()
        loss_sum += loss.item()
    [loss_sum] = all_sum(ctx, loss_sum)
    if math.isfinite(loss_sum):
        torch.nn.utils.clip_grad_norm_(net.parameters(), recipe["clip"])
        optimizer.step()
    return loss_sum, int(n_global)


def command_options(argv: list[str]) -> list[str]:
    """``argv`` without --resume and without --family and its member names."""
    kept, skipping = [], False
    for a in argv:
        if a == "--family":
            skipping = True
        elif skipping and not a.startswith("-"):
            continue
        else:
            skipping = False
            if a != "--resume":
                kept.append(a)
    return kept


def write_metrics(out: Path, arch: str, info: dict, args, ctx: Context) -> dict:
    """Score the kept checkpoint (as loaded from disk) on the test split and write metrics.json."""
    model, src_vocab, trg_vocab, config = load_model(out, ctx.device)
    translator = Translator(model, src_vocab, trg_vocab, config, out)
    metrics = {
        "arch": model.arch,
        **({"family": info["family"]} if info.get("family") else {}),
        **({"preset": arch} if arch in PRESETS else {}),
        "paper": model.paper,
        "parameters": model.num_parameters(),
        "size_bytes": (out / "model.safetensors").stat().st_size,
        "val_bleu": info["best_bleu"],
        "best_epoch": info["best_epoch"],
        "epochs_trained": info["epoch"],
        "train_seconds": round(info["seconds"]),
        "hardware": hardware(ctx),
        "command": info["command"],
        "recipe": info["recipe"],
        "history": info["history"],
        "test": {},
    }
    test = load_test(args) if args.test_beam else None
    if test is not None:
        for name, beam in (("greedy", 1), (f"beam{args.test_beam}", args.test_beam)):
            metrics["test"][name] = evaluate(translator, test, beam_size=beam)
            print(f"[{arch}] {test.name} {name}: BLEU {metrics['test'][name]['bleu']:.2f}, "
                  f"chrF {metrics['test'][name]['chrf']:.2f}")
    write_json(out / "metrics.json", metrics)
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    ctx = setup(args.device)
    # Processes on one machine share its cores.
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(int(os.environ.get("SEQ2SEQ_THREADS", max(1, (os.cpu_count() or 1) // local_world))))
    if args.family is not None:
        jobs = [("luong", member) for member in (args.family or FAMILY)]
    else:
        jobs = [(arch, None) for arch in (list(ARCHITECTURES) if args.arch == "all" else [args.arch])]
    try:
        if args.push_to_hub:  # fail now, not after hours of training
            from seq2seq.tools.hub import require_token

            require_token()
        for arch, member in jobs:
            train(arch, args, member, ctx)
    except (DataNotFoundError, CorpusError, TrainingDiverged, CheckpointError) as e:  # CheckpointError includes HubError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; continue with --resume", file=sys.stderr)
        return 130
    finally:
        shutdown(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
