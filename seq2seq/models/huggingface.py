"""Any Hugging Face encoder-decoder translation model (MarianMT / opus-mt first) behind the project's contract.

    translator = load_checkpoint("Helsinki-NLP/opus-mt-de-en")      # a Hub id (from the local cache)
    translator = load_checkpoint("models/opus-mt-de-en")            # or a save_pretrained directory

The ``transformers`` model does the computing; :class:`HuggingFaceSeq2Seq` only adapts it, so that
decoding, Inspect, Compare, attributions and faithfulness need no special case:

* ``encode`` runs the model's encoder once (``output_attentions``): ``encoder_self`` [B, layers, heads, S, S];
* ``decoder_step`` runs its decoder on one token, reusing the key/value cache of the steps before
  (``EncoderDecoderCache``). The cache's tensors live in the project's ``state`` dict, batch first, so
  beam search reorders them with ``index_batch`` like any other model's state;
* ``logits`` is the model's own output layer (``lm_head``, plus Marian's ``final_logits_bias``).

Ids. The project's vocabularies put ``<unk> <pad> <sos> <eos>`` at 0..3; a Hugging Face vocabulary puts
its specials where it likes (opus-mt: ``</s>`` 0, ``<unk>`` 1, ``<pad>`` 58100, and the decoder starts
from ``<pad>``). :class:`PieceVocab` lists the model's tokens in the project's order, and the adapter maps
ids at its edges (``src_to_hf``, ``trg_to_hf``): the embeddings look up ``to_hf[ids]`` and the logits
are read back as ``logits[..., trg_to_hf]``. ``<sos>`` is the model's decoder start token; its logit
and ``<pad>``'s are never outputs (decoding masks both, as ``generate`` masks ``<pad>`` for Marian).

Pieces. The source is shown as the model reads it: SentencePiece pieces and the closing ``</s>`` the
tokenizer appends. The target's pieces are joined by the tokenizer's own decoding.

Models whose decoder starts from more than one token (M2M100 / NLLB: ``</s>`` and the target language's
code) are primed with the extra tokens on the first step; the decoder's self-attention to them is
added into the first column (``<sos>``), so each row still sums to 1. At load time the adapter checks
itself against the model's own forward pass on one sentence and refuses a model it does not fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import CheckpointError
from ..data import EOS, EOS_IDX, PAD, PAD_IDX, SOS, SOS_IDX, SPECIALS, UNK, UNK_IDX, Vocab
from .base import Seq2Seq

PAPERS = {
    "marian": "Junczys-Dowmunt et al. 2018; Tiedemann & Thottingal 2020 (OPUS-MT)",
    "m2m_100": "Fan et al. 2021 (M2M-100); NLLB Team 2022",
    "mbart": "Liu et al. 2020 (mBART)",
    "t5": "Raffel et al. 2020 (T5)",
}


class HuggingFaceError(CheckpointError):
    """A Hugging Face model that cannot be loaded or served, with the reason in one line."""


# ---------------------------------------------------------------------------- tokenizer and vocabulary


class PieceTokenizer:
    """One side of a Hugging Face tokenizer, with the interface of the project's ``SubwordTokenizer``:
    ``tok(text)`` gives the pieces the model reads (source: ending with ``</s>``; target: without it),
    ``detokenize(pieces)`` the text they spell (the tokenizer's own decoding, specials dropped)."""

    subword = True

    def __init__(self, hf_tokenizer, side: str):
        assert side in ("source", "target")
        self.hf, self.side = hf_tokenizer, side

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if self.side == "source":
            return self.hf(texts, add_special_tokens=True)["input_ids"]
        ids = self.hf(text_target=texts, add_special_tokens=True)["input_ids"]
        eos = self.hf.eos_token_id
        return [i[:-1] if i and i[-1] == eos else i for i in ids]

    def __call__(self, text: str) -> list[str]:
        return self.batch([text])[0]

    def batch(self, texts: list[str]) -> list[list[str]]:
        if not texts:
            return []
        return [self.hf.convert_ids_to_tokens(ids) for ids in self._ids(list(texts))]

    def detokenize(self, pieces: list[str]) -> str:
        ids = self.hf.convert_tokens_to_ids(list(pieces))
        return self.hf.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()


class PieceVocab(Vocab):
    """A Hugging Face vocabulary in the project's order: ``<unk> <pad> <sos> <eos>``, then every other token
    in the model's id order. ``to_hf[i]`` is the model's id of project id ``i``; the model's own names of
    its specials (``</s>``, ...) are accepted as aliases, so its pieces encode as they should."""

    def __init__(self, hf_vocab: dict[str, int], specials: dict[str, int], tokenizer: PieceTokenizer):
        """``hf_vocab``: token -> model id; ``specials``: the project's special -> the model's id."""
        special_ids = {specials[s] for s in (UNK, PAD, EOS)}
        rest = sorted((i, t) for t, i in hf_vocab.items() if i not in special_ids)
        clash = [t for _, t in rest if t in SPECIALS]
        if clash:
            raise HuggingFaceError(f"the model's vocabulary has ordinary tokens named {clash}, like the project's specials")
        super().__init__(list(SPECIALS) + [t for _, t in rest], tokenizer)
        self.to_hf = [specials[s] for s in SPECIALS] + [i for i, _ in rest]
        by_id = {i: t for t, i in hf_vocab.items()}
        for name, idx in ((UNK, UNK_IDX), (PAD, PAD_IDX), (EOS, EOS_IDX)):
            if specials[name] in by_id:
                self.stoi.setdefault(by_id[specials[name]], idx)


# ---------------------------------------------------------------------------- the adapter


class IdLookup(nn.Module):
    """The model's token embedding, looked up by project ids. A module of its own on each side, so a
    forward hook on the source embedding (attributions) never sees the decoder's inputs, even when the
    model shares one embedding matrix between encoder and decoder (Marian)."""

    def __init__(self, embed: nn.Module, to_hf: torch.Tensor, scale: float = 1.0):
        super().__init__()
        self.embed, self.scale = embed, scale    # scale: what the model multiplies its own lookups by
        self.register_buffer("to_hf", to_hf, persistent=False)

    def hf(self, hf_ids: torch.Tensor) -> torch.Tensor:     # [...] model ids -> [..., D]
        return self.embed(hf_ids) * self.scale

    def forward(self, ids: torch.Tensor) -> torch.Tensor:   # [...] project ids -> [..., D]
        return self.hf(self.to_hf[ids])


@dataclass
class HuggingFaceConfig:
    model: str                  # the Hub id or directory it was loaded from
    model_type: str             # transformers' name for the architecture ("marian", ...)
    layers: int
    heads: int


class HuggingFaceSeq2Seq(Seq2Seq):
    """A ``transformers`` encoder-decoder (``AutoModelForSeq2SeqLM``) behind the project's interface."""

    Config = HuggingFaceConfig
    attention_kinds = ("cross", "encoder_self", "decoder_self")

    def __init__(self, hf_model, src_vocab: PieceVocab, trg_vocab: PieceVocab, name: str,
                 start_ids: list[int] | None = None):
        cfg = hf_model.config
        layers = getattr(cfg, "decoder_layers", None) or getattr(cfg, "num_decoder_layers", None) or cfg.num_layers
        heads = getattr(cfg, "decoder_attention_heads", None) or cfg.num_heads
        super().__init__(HuggingFaceConfig(name, cfg.model_type, layers, heads), len(src_vocab), len(trg_vocab))
        self.arch = cfg.model_type
        self.paper = PAPERS.get(cfg.model_type, f"Hugging Face {cfg.model_type}")
        self.hf = hf_model
        encoder, decoder = hf_model.get_encoder(), hf_model.get_decoder()
        self.src_embedding = IdLookup(encoder.get_input_embeddings(), torch.tensor(src_vocab.to_hf),
                                      _lookup_scale(encoder, {}))
        memory = torch.zeros(1, 1, cfg.d_model)
        self.trg_embedding = IdLookup(decoder.get_input_embeddings(), torch.tensor(trg_vocab.to_hf),
                                      _lookup_scale(decoder, {"encoder_hidden_states": memory, "use_cache": False}))
        # The decoder's first input(s): its start token, then e.g. the target language's code (NLLB).
        start = start_ids or [cfg.decoder_start_token_id]
        self.register_buffer("start_ids", torch.tensor(start), persistent=False)
        self.register_buffer("trg_to_hf", torch.tensor(trg_vocab.to_hf), persistent=False)
        # T5 rescales the decoder's output before its tied output layer.
        self.output_scale = (cfg.d_model ** -0.5 if cfg.model_type in ("t5", "mt5") and cfg.tie_word_embeddings
                             else 1.0)

    @property
    def max_source_positions(self) -> int | None:
        return getattr(self.hf.config, "max_position_embeddings", None)

    @property
    def max_target_positions(self) -> int | None:
        n = getattr(self.hf.config, "max_position_embeddings", None)
        return n - len(self.start_ids) if n else None

    @property
    def cross_attention_grid(self) -> tuple[int, int]:
        return (self.config.layers, self.config.heads)

    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> dict:
        mask = src != PAD_IDX                                                        # [B, S]
        out = self.hf.get_encoder()(inputs_embeds=self.src_embedding(src), attention_mask=mask.long(),
                                    output_attentions=True, return_dict=True)
        return {"memory": out.last_hidden_state,                                    # [B, S, D]
                "mask": mask,
                "encoder_self": torch.stack(out.attentions, dim=1)}                 # [B, layers, heads, S, S]

    def value_norms(self, enc: dict) -> torch.Tensor:
        """[B, layers, heads, S]: ||v_j^h W_O^h|| for each decoder layer's cross-attention head (Kobayashi et
        al. 2020): the value of source position j through the head's share of the output projection."""
        norms = []
        for layer in self.hf.get_decoder().layers:
            attn = _cross_attention(layer)
            v_proj, o_proj = (attn.v_proj, attn.out_proj) if hasattr(attn, "v_proj") else (attn.v, attn.o)
            v = v_proj(enc["memory"])                                                   # [B, S, H * d]
            b, n, _ = v.shape
            heads = self.config.heads
            w_o = o_proj.weight.view(o_proj.weight.size(0), heads, -1)                  # [D, H, d]
            norms.append(torch.einsum("bshk,dhk->bhsd", v.view(b, n, heads, -1), w_o).norm(dim=-1))   # [B, H, S]
        return torch.stack(norms, dim=1)

    def init_state(self, enc: dict) -> dict:
        # Per decoder layer: self-attention keys/values [B, heads, t, d] and cross-attention keys/values
        # [B, heads, S, d]; empty before the first step (which computes the cross-attention's).
        return {"self_k": [], "self_v": [], "cross_k": [], "cross_v": []}

    def _cache(self, state: dict):
        from transformers import EncoderDecoderCache

        if not state["self_k"]:
            return None
        return EncoderDecoderCache(list(zip(state["self_k"], state["self_v"], state["cross_k"], state["cross_v"])))

    def decoder_step(self, prev: torch.Tensor, state: dict, enc: dict):
        """prev: [B] project ids. Returns (decoder output [B, D], new state, attention)."""
        first = not state["self_k"]
        embeds = self.trg_embedding(prev[:, None])                                   # [B, 1, D]
        primed = len(self.start_ids) - 1
        if first and primed:   # <sos> is the last start token; the ones before it go first
            lead = self.trg_embedding.hf(self.start_ids[:-1]).expand(prev.size(0), -1, -1)      # [B, primed, D]
            embeds = torch.cat([lead, embeds], dim=1)
        out = self.hf.get_decoder()(inputs_embeds=embeds, encoder_hidden_states=enc["memory"],
                                    encoder_attention_mask=enc["mask"].long(), cache=self._cache(state),
                                    use_cache=True, output_attentions=True, return_dict=True)
        cache = out.cache
        state = {"self_k": [layer.keys for layer in cache.self_attention_cache.layers],
                 "self_v": [layer.values for layer in cache.self_attention_cache.layers],
                 "cross_k": [layer.keys for layer in cache.cross_attention_cache.layers],
                 "cross_v": [layer.values for layer in cache.cross_attention_cache.layers]}
        cross = torch.stack(out.cross_attentions, dim=1)[:, :, :, -1]                 # [B, layers, heads, S]
        self_attn = torch.stack(out.attentions, dim=1)[:, :, :, -1]                  # [B, layers, heads, primed+t+1]
        if primed:   # the primed start tokens count as <sos>
            self_attn = torch.cat([self_attn[..., : primed + 1].sum(-1, keepdim=True), self_attn[..., primed + 1:]], -1)
        return out.last_hidden_state[:, -1], state, {"cross": cross, "decoder_self": self_attn}

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """[..., D] -> [..., V] in the project's ids: the model's output layer, read at ``trg_to_hf``."""
        out = self.hf.get_output_embeddings()(features * self.output_scale)
        bias = getattr(self.hf, "final_logits_bias", None)
        if bias is not None:
            out = out + bias
        return out[..., self.trg_to_hf]

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, trg_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing in one pass of the decoder. trg_in: [B, T] starting with <sos>. -> [B, T, V]"""
        enc = self.encode(src, src_lens)
        embeds = self.trg_embedding(trg_in)                                          # [B, T, D]
        primed = len(self.start_ids) - 1
        if primed:
            lead = self.trg_embedding.hf(self.start_ids[:-1]).expand(trg_in.size(0), -1, -1)
            embeds = torch.cat([lead, embeds], dim=1)
        out = self.hf.get_decoder()(inputs_embeds=embeds, encoder_hidden_states=enc["memory"],
                                    encoder_attention_mask=enc["mask"].long(), use_cache=False, return_dict=True)
        return self.logits(out.last_hidden_state[:, primed:])


@torch.no_grad()
def _lookup_scale(stack: nn.Module, kwargs: dict) -> float:
    """What an encoder or decoder multiplies the embeddings it looks up itself by, when given
    ``inputs_embeds`` instead of ids: Marian scales its encoder's lookups by sqrt(d) only then; its
    decoder's, and M2M100's (inside the embedding), either way. Found by running both."""
    was_training = stack.training
    stack.eval()
    ids = torch.tensor([[5, 6, 7]], device=stack.get_input_embeddings().weight.device)
    kwargs = {k: v.to(ids.device) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    try:
        want = stack(input_ids=ids, **kwargs).last_hidden_state
        embeds = stack.get_input_embeddings()(ids)
        for scale in dict.fromkeys([1.0, float(getattr(stack, "embed_scale", 1.0) or 1.0)]):
            if torch.allclose(stack(inputs_embeds=embeds * scale, **kwargs).last_hidden_state, want, atol=1e-5):
                return scale
    finally:
        stack.train(was_training)
    raise HuggingFaceError(f"{type(stack).__name__} reads embeddings given to it differently from its own lookups")


def _cross_attention(layer: nn.Module) -> nn.Module:
    """A decoder layer's cross-attention module: ``encoder_attn`` (Marian, BART, M2M100), or T5's."""
    if hasattr(layer, "encoder_attn"):
        return layer.encoder_attn
    return layer.layer[1].EncDecAttention                                   # T5: self, cross, feed-forward


# ---------------------------------------------------------------------------- loading


def is_huggingface_dir(path) -> bool:
    """A ``save_pretrained`` directory: a config.json naming a transformers ``model_type``."""
    import json

    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        return "model_type" in json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False


def looks_like_hub_id(spec: str) -> bool:
    """``OWNER/NAME`` (what the Hub calls a repository id), not a path that exists here."""
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not Path(spec).expanduser().exists() and not spec.startswith((".", "~"))


def split_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``ID_OR_DIR[:SRC_CODE:TRG_CODE]`` -> (model, source language code, target language code).
    The codes are what multilingual tokenizers want (NLLB: ``deu_Latn:eng_Latn``); Marian needs none."""
    parts = str(spec).rsplit(":", 2)
    if len(parts) == 3 and parts[1] and parts[2] and not Path(str(spec)).exists():
        return parts[0], parts[1], parts[2]
    return str(spec), None, None


def load_huggingface(spec, device="cpu", download: bool | None = None, src_lang: str = "de", trg_lang: str = "en"):
    """(model, source vocabulary, target vocabulary, config) for a Hugging Face translation model.

    ``spec``: a ``save_pretrained`` directory (model and tokenizer) or a Hub id, optionally followed by
    ``:SRC_CODE:TRG_CODE``. Nothing is downloaded unless ``download`` (default: $SEQ2SEQ_HF_DOWNLOAD=1);
    a Hub id must otherwise be in the local Hugging Face cache. Raises :class:`HuggingFaceError`.
    """
    import warnings

    name, src_code, trg_code = split_spec(spec)
    if download is None:
        download = os.environ.get("SEQ2SEQ_HF_DOWNLOAD") == "1"
    local = Path(name).expanduser()
    if not local.exists() and not looks_like_hub_id(name):
        raise HuggingFaceError(f"{name}: no such directory, and not a Hugging Face Hub id (OWNER/NAME)")
    try:
        import transformers
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    except ImportError:
        raise HuggingFaceError(f"{name}: the transformers library is not installed (pip install transformers)") from None
    where = str(local) if local.exists() else name
    offline = not local.exists() and not download
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()      # no "Loading weights" bars in the server's console
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # e.g. "Recommended: pip install sacremoses"
            tok = AutoTokenizer.from_pretrained(where, local_files_only=offline)
            hf = AutoModelForSeq2SeqLM.from_pretrained(where, local_files_only=offline, attn_implementation="eager")
    except Exception as e:   # OSError (not found / not cached / no network), ValueError (not seq2seq), ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if offline and isinstance(e, OSError):
            raise HuggingFaceError(f"{name}: not in the local Hugging Face cache, and nothing is downloaded unless "
                                   "asked: add --download to fetch it from the Hub") from None
        raise HuggingFaceError(f"{name}: cannot load it: {reason}") from None
    if not hf.config.is_encoder_decoder:
        raise HuggingFaceError(f"{name}: not an encoder-decoder model ({hf.config.model_type})")
    if src_code and hasattr(tok, "src_lang"):
        tok.src_lang = src_code
    if trg_code and hasattr(tok, "tgt_lang"):
        tok.tgt_lang = trg_code
    start = [hf.config.decoder_start_token_id]
    if trg_code:
        start.append(tok.convert_tokens_to_ids(trg_code))
    elif getattr(hf.generation_config, "forced_bos_token_id", None) is not None:
        start.append(hf.generation_config.forced_bos_token_id)
    specials = {UNK: tok.unk_token_id, PAD: tok.pad_token_id, SOS: start[-1], EOS: tok.eos_token_id}
    if None in specials.values():
        raise HuggingFaceError(f"{name}: its tokenizer lacks one of <unk>, <pad>, </s>")
    target_vocab = tok.get_tgt_vocab() if getattr(tok, "separate_vocabs", False) else tok.get_vocab()
    src_vocab = PieceVocab(tok.get_vocab(), specials, PieceTokenizer(tok, "source"))
    trg_vocab = PieceVocab(target_vocab, specials, PieceTokenizer(tok, "target"))
    label = local.name if local.exists() else name.split("/")[-1]
    model = HuggingFaceSeq2Seq(hf, src_vocab, trg_vocab, name, start).to(device).eval()
    check_adapter(model, src_vocab, name)
    config = {"format": "huggingface", "arch": model.arch, "name": label, "huggingface": str(spec),
              "src_lang": src_lang, "trg_lang": trg_lang, "tokenizer": {"kind": "huggingface", "lowercase": False},
              "parameters": sum(p.numel() for p in hf.parameters()), "hparams": {}}
    return model, src_vocab, trg_vocab, config


@torch.no_grad()
def check_adapter(model: HuggingFaceSeq2Seq, src_vocab: PieceVocab, name: str) -> None:
    """Refuse a model the adapter does not fit: two steps of cached decoding must give the logits of
    the model's own forward pass (``hf(input_ids, decoder_input_ids).logits``) on one sentence."""
    device = model.start_ids.device
    src = torch.tensor([src_vocab.encode(src_vocab.tokenizer("Ein Mann fährt Fahrrad."))], device=device)
    enc = model.encode(src, torch.tensor([src.size(1)], device=device))
    state = model.init_state(enc)
    first, state, _ = model.decoder_step(torch.tensor([SOS_IDX], device=device), state, enc)
    first = model.logits(first)                                                   # [1, V]
    word = first.clone()
    word[:, [PAD_IDX, SOS_IDX]] = float("-inf")
    word = word.argmax(-1)                                                        # [1]
    second, _, _ = model.decoder_step(word, state, enc)
    ours = torch.cat([first, model.logits(second)])                               # [2, V]
    dec_in = torch.cat([model.start_ids, model.trg_to_hf[word]])[None]           # [1, starts + 1]
    hf_src = model.src_embedding.to_hf[src]
    reference = model.hf(input_ids=hf_src, attention_mask=torch.ones_like(hf_src), decoder_input_ids=dec_in).logits
    reference = reference[0, -2:][:, model.trg_to_hf]                             # [2, V]
    gap = float((ours - reference).abs().max())
    if not gap <= 1e-3 * max(1.0, float(reference.abs().max())):
        raise HuggingFaceError(f"{name}: the adapter does not reproduce this {model.arch} model's own forward pass "
                               f"(largest difference {gap:.3g}), so it is not supported")
