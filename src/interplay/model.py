"""A Qwen2-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention, tied embeddings).

Parameter names and ``config.json`` follow Hugging Face ``Qwen2ForCausalLM``, so a checkpoint written
by ``save`` loads with ``transformers`` (and serves with vLLM at paper scale). fp32 on CPU; the
trainer wraps forward passes in bf16 autocast on CUDA.

Optional Canon layers (``canon: true``; Allen-Zhu, Physics of Language Models 4.1, arXiv 2512.17351):
``h + conv(h)``, a causal depthwise convolution of width 4, on the input of attention and of the MLP
of every layer. They add 8 * d_model parameters per layer and a little depth for mixing neighbouring
tokens. Hugging Face's Qwen2 has no such layer, so a Canon checkpoint's ``config.json`` names its own
``model_type`` (``CANON_MODEL_TYPE``): ``transformers`` refuses it instead of silently dropping the
convolutions; this package's ``load`` reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from interplay.io import remove_leftovers
from interplay.params import need, option, parse

CANON_WIDTH = 4  # taps of a Canon convolution: the token itself and the 3 before it
CANON_MODEL_TYPE = "interplay_qwen2_canon"  # not a transformers model type: HF refuses, never misloads


@dataclass(frozen=True)
class ModelConfig:
    """The decoder's shape (``params.yaml: model``; the vocabulary size comes from the tokenizer)."""

    vocab_size: int = option(2304, settable=False, doc="from the tokenizer")
    n_layer: int = option(4, lo=1, hi=512, doc="decoder layers (paper: 12)")
    d_model: int = option(128, lo=1, hi=65536, doc="width (paper: 768)")
    n_head: int = option(4, lo=1, hi=1024, doc="attention heads; divides d_model into an even head dim")
    n_kv_head: int = option(2, lo=1, hi=1024, doc="key/value heads (GQA); divides n_head")
    d_ff: int = option(384, lo=1, hi=262144, doc="SwiGLU hidden width")
    max_seq_len: int = option(512, lo=1, hi=1 << 20, doc="positions")
    rope_theta: float = option(10000.0, lo=1.0, doc="RoPE base")
    rms_eps: float = option(1e-6, settable=False, doc="RMSNorm epsilon")
    tie_embeddings: bool = option(
        True, doc="paper: tied; untied avoids number-embedding collapse at tiny scale"
    )
    canon: bool = option(False, doc="Canon layers before attention and MLP (not in HF Qwen2: module doc)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def n_params(self, embedding: bool = True) -> int:
        d, f, hd = self.d_model, self.d_ff, self.head_dim
        kv = self.n_kv_head * hd
        attn = d * d + d + 2 * (d * kv + kv) + d * d  # q (bias), k, v (bias), o
        mlp = 3 * d * f
        per_layer = attn + mlp + 2 * d + (2 * d * CANON_WIDTH if self.canon else 0)
        body = self.n_layer * per_layer + d
        emb = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return body + (emb if embedding else 0)

    def to_hf(self, bos: int, eos: int, pad: int) -> dict:
        return {
            "architectures": ["Qwen2ForCausalLM"] if not self.canon else ["InterplayCanonForCausalLM"],
            "model_type": "qwen2" if not self.canon else CANON_MODEL_TYPE,
            "vocab_size": self.vocab_size,
            "hidden_size": self.d_model,
            "intermediate_size": self.d_ff,
            "num_hidden_layers": self.n_layer,
            "num_attention_heads": self.n_head,
            "num_key_value_heads": self.n_kv_head,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_seq_len,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_eps,
            "hidden_act": "silu",
            "tie_word_embeddings": self.tie_embeddings,
            "use_sliding_window": False,
            "sliding_window": None,
            "max_window_layers": self.n_layer,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "use_cache": True,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": pad,
            "torch_dtype": "float32",
            "interplay": asdict(self),
        }

    @staticmethod
    def from_hf(cfg: dict) -> ModelConfig:
        if "interplay" in cfg:
            return ModelConfig(**cfg["interplay"])
        return ModelConfig(
            vocab_size=cfg["vocab_size"],
            n_layer=cfg["num_hidden_layers"],
            d_model=cfg["hidden_size"],
            n_head=cfg["num_attention_heads"],
            n_kv_head=cfg["num_key_value_heads"],
            d_ff=cfg["intermediate_size"],
            max_seq_len=cfg["max_position_embeddings"],
            rope_theta=cfg["rope_theta"],
            rms_eps=cfg["rms_norm_eps"],
            tie_embeddings=cfg.get("tie_word_embeddings", True),
        )


# bounds far above any model this project trains (the paper's: 12 layers x 768, d_ff 3,072, 2,048
# positions), so that a typo cannot ask for a model no machine holds
def config_from_params(d: dict, vocab_size: int, key: str = "model") -> ModelConfig:
    """Validate ``params.yaml: model`` (vocab size comes from the tokenizer)."""
    cfg = replace(parse(ModelConfig, d, key), vocab_size=vocab_size)
    need(cfg.d_model % cfg.n_head == 0, f"{key}.n_head", f"d_model {cfg.d_model} is not divisible by it")
    need(cfg.n_head % cfg.n_kv_head == 0, f"{key}.n_kv_head", f"n_head {cfg.n_head} is not divisible by it")
    need(cfg.head_dim % 2 == 0, f"{key}.n_head", "head dim (d_model / n_head) must be even for RoPE")
    return cfg


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(cfg: ModelConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin for integer ``positions`` (any shape) -> (..., head_dim), HF's rotate-half layout."""
    hd = cfg.head_dim
    inv = 1.0 / (
        cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=positions.device) / hd)
    )
    ang = positions.float().unsqueeze(-1) * inv
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, hd); cos/sin: (B, T, hd) or (T, hd)."""
    if cos.dim() == 3:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_head * hd, bias=True)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=True)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * hd, bias=True)
        self.o_proj = nn.Linear(cfg.n_head * hd, cfg.d_model, bias=False)

    def qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        B, T, _ = x.shape
        hd = self.cfg.head_dim
        q = self.q_proj(x).view(B, T, self.cfg.n_head, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.cfg.n_kv_head, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.cfg.n_kv_head, hd).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def forward(self, x, cos, sin, mask=None, cache=None, layer: int = 0):
        """Full-sequence attention (training, scoring): causal, or an explicit boolean mask. With a
        ``cache`` (sampling) the cache stores this layer's keys/values and attends over them."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x, cos, sin)
        if cache is not None:
            return self.o_proj(cache.attend(layer, q, k, v))
        rep = self.cfg.n_head // self.cfg.n_kv_head
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Canon(nn.Module):
    """``h + sum_k w_k * h[t - k]`` for k = 0..3 per channel: a causal depthwise convolution with a
    residual. Zero-initialised, so a new Canon layer is the identity. It never reads across a document
    boundary of a packed block: with per-token ``positions`` (B, T) that restart at 0 in each
    document, tap k reads only where the position is >= k."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d, CANON_WIDTH))

    def forward(self, h: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        T = h.shape[1]
        y = h * self.weight[:, 0]
        for k in range(1, min(CANON_WIDTH, T)):
            prev = F.pad(h[:, :-k], (0, 0, k, 0))  # h[t - k], zeros before the sequence
            if positions is not None and positions.dim() == 2:
                prev = prev * (positions >= k).unsqueeze(-1).to(prev.dtype)
            y = y + prev * self.weight[:, k]
        return h + y

    def history(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The last ``CANON_WIDTH - 1`` inputs before position ``lengths`` of each right-padded row
        (P, T, d) -> (P, 3, d), oldest first, zeros before the start: the decoding state."""
        P, _, d = h.shape
        padded = F.pad(h, (0, 0, CANON_WIDTH - 1, 0))  # index j + 3 holds h[j]
        idx = lengths.view(P, 1) + torch.arange(CANON_WIDTH - 1, device=h.device).view(1, -1)
        return padded.gather(1, idx.unsqueeze(-1).expand(P, CANON_WIDTH - 1, d))

    def step(self, h: torch.Tensor, hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One new input per row: ``h`` (..., d) with its history (..., 3, d), oldest first ->
        (output, the history after it)."""
        y = h * self.weight[:, 0]
        for k in range(1, CANON_WIDTH):
            y = y + hist[..., CANON_WIDTH - 1 - k, :] * self.weight[:, k]
        return h + y, torch.cat([hist[..., 1:, :], h.unsqueeze(-2)], dim=-2)


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
        if cfg.canon:
            self.canon_attn = Canon(cfg.d_model)
            self.canon_mlp = Canon(cfg.d_model)

    def forward(self, x, cos, sin, mask=None, positions=None, cache=None, layer: int = 0):
        h = self.input_layernorm(x)
        if self.self_attn.cfg.canon:
            h = self.canon_attn(h, positions) if cache is None else cache.canon(layer, 0, self.canon_attn, h)
        x = x + self.self_attn(h, cos, sin, mask, cache, layer)
        h = self.post_attention_layernorm(x)
        if self.self_attn.cfg.canon:
            h = self.canon_mlp(h, positions) if cache is None else cache.canon(layer, 1, self.canon_mlp, h)
        return x + self.mlp(h)


class Body(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_eps)


class Qwen2(nn.Module):
    """Decoder-only LM; attribute names match ``Qwen2ForCausalLM`` (``model.*``, ``lm_head``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = Body(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.apply(self._init)
        for name, p in self.named_parameters():  # scaled init of residual projections (GPT-2)
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(
        self,
        idx: torch.Tensor,
        positions: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        logits_from: int = 0,
        cache=None,
        where: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits for a batch (B, T). ``positions`` (B, T) and a boolean ``mask`` (B, 1, T, T)
        describe packed documents; default: one causal document per row. ``logits_from`` skips the
        LM head for the first positions (scoring completions after a prompt); ``where``, a boolean
        (B, T) mask, runs it only at those positions and returns their logits flattened (N, V) in
        row-major order (training: the loss-masked targets, a third of the positions in pre-training).

        ``cache`` (sampling, ``interplay.sampling.PrefixCache``): each attention and Canon layer reads
        and extends the cache instead of the sequence alone, and the LM head runs only where the
        cache says the next token is read (the last prompt position, or the one new token)."""
        T = idx.shape[1]
        if positions is None:
            positions = torch.arange(T, device=idx.device)
        cos, sin = rope_tables(self.cfg, positions)
        x = self.model.embed_tokens(idx)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, positions, cache, i)
        if cache is not None:
            return self.lm_head(self.model.norm(cache.last(x)))
        if where is not None:
            return self.lm_head(self.model.norm(x[where]))
        return self.lm_head(self.model.norm(x[:, logits_from:]))


def adamw(model: nn.Module, lr: float, betas: tuple[float, float], weight_decay: float) -> torch.optim.AdamW:
    """The optimizer of every phase (pre-/mid-training and RL): AdamW whose weight decay applies to
    matrices (embeddings, projections, LM head) and not to norm gains, biases or Canon taps (the
    GPT-2 / nanoGPT convention; verl's actor decays everything: one choice here, for all phases).
    The multi-tensor (``foreach``) update: the same arithmetic per element as the loop, fewer kernel
    launches (3% of a CPU pre-training step, ``benchmarks/bench_train_step.py``)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8, fused=False, foreach=True)


# ---------------------------------------------------------------------------------------------
# checkpoints: safetensors + HF config.json


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a checkpoint of ``cfg`` holds, name -> shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        sd = Qwen2(cfg).state_dict()
    if cfg.tie_embeddings:
        sd.pop("lm_head.weight", None)
    return {k: tuple(v.shape) for k, v in sd.items()}


def state_for_save(model: Qwen2) -> dict[str, torch.Tensor]:
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        sd.pop("lm_head.weight", None)  # tied: HF reads embed_tokens
    return sd


def save(
    model: Qwen2, directory: str | Path, tokenizer_json: str | Path | None = None, extra: dict | None = None
) -> None:
    """``model.safetensors`` + ``config.json`` (+ ``tokenizer.json``) written atomically as a folder."""
    import shutil
    import tempfile

    from interplay.tokenizer import BOS, EOS, PAD

    out = Path(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out.parent, f".{out.name}.")  # what a killed save of this folder left
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_file(state_for_save(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        cfg = model.cfg.to_hf(BOS, EOS, PAD)
        cfg[WEIGHTS_HASH_KEY] = file_sha256(tmp / "model.safetensors")
        if extra:
            cfg["interplay_meta"] = extra
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        if tokenizer_json is not None:
            shutil.copyfile(tokenizer_json, tmp / "tokenizer.json")
            write_hf_files(tmp, model.cfg, extra or {})
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# generation defaults written beside every checkpoint: the evaluation protocol (paper: T = 0.7, top-p 1)
GENERATION = {"do_sample": True, "temperature": 0.7, "top_p": 1.0, "top_k": 0, "max_new_tokens": 256}


def write_hf_files(directory: Path, cfg: ModelConfig, meta: dict) -> None:
    """What Hugging Face needs besides config.json and the weights: a tokenizer config that loads our
    ``tokenizer.json`` as-is (same ids, our special tokens), a generation config that stops at
    ``</answer>`` and samples as the evaluation does, and a short model card."""
    from tokenizers import Tokenizer

    from interplay.tokenizer import BOS, EOS, PAD, SPECIALS, UNK

    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    answer_end = tok.token_to_id("</answer>")
    names = {"unk_token": SPECIALS[UNK], "pad_token": SPECIALS[PAD], "bos_token": SPECIALS[BOS]}
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **names,
        "eos_token": SPECIALS[EOS],
        "additional_special_tokens": [t for i, t in enumerate(SPECIALS) if i not in (UNK, PAD, BOS, EOS)],
        "model_max_length": cfg.max_seq_len,
        "clean_up_tokenization_spaces": False,
    }
    gen = {
        **GENERATION,
        "max_new_tokens": min(GENERATION["max_new_tokens"], cfg.max_seq_len // 2),
        "eos_token_id": [answer_end, EOS],
        "pad_token_id": PAD,
        "bos_token_id": BOS,
    }
    for name, obj in (("tokenizer_config.json", tok_cfg), ("generation_config.json", gen)):
        (directory / name).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    (directory / "README.md").write_text(model_card(cfg, meta))


def model_card(cfg: ModelConfig, meta: dict) -> str:
    kind = "Qwen2-style decoder with Canon layers (loads with interplay only)" if cfg.canon else "Qwen2"
    run = ", ".join(f"{k}: {v}" for k, v in sorted(meta.items()) if isinstance(v, int | float | str))
    return f"""# interplay checkpoint

A {cfg.n_params():,}-parameter {kind} ({cfg.n_layer} layers x {cfg.d_model}, {cfg.n_head} heads /
{cfg.n_kv_head} KV heads, {cfg.max_seq_len} positions) trained from scratch by the interplay pipeline on
synthetic word problems (`docs/task.md` of the interplay repository). {run}

It reads a problem as `<question> ... </question> <solution>` and writes a `Define ...` trace, then
`<answer> N </answer>`. The process verifier (`interplay.task.verify.score`) checks every step.

```python
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

tok = PreTrainedTokenizerFast.from_pretrained(path)   # not AutoTokenizer: transformers 5 swaps in Qwen2's
                                                      # own pre-tokenizer for qwen2 checkpoints (other ids)
model = AutoModelForCausalLM.from_pretrained(path)
ids = tok(prompt, return_tensors="pt").input_ids      # prompt ends with "<solution>"
out = model.generate(ids)                               # generation_config.json: T = 0.7, stop at </answer>
print(tok.decode(out[0, ids.shape[1]:]))
```
"""


def load(directory: str | Path, device: str | torch.device = "cpu") -> Qwen2:
    d = Path(directory)
    if not (d / "config.json").exists() or not (d / "model.safetensors").exists():
        raise FileNotFoundError(f"{d}: no checkpoint (config.json + model.safetensors)")
    cfg = ModelConfig.from_hf(json.loads((d / "config.json").read_text()))
    model = Qwen2(cfg)
    load_weights(model, d / "model.safetensors")
    return model.to(device)


WEIGHTS_HASH_KEY = "interplay_weights_sha256"  # config.json: the checkpoint's model.safetensors hash


def file_sha256(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_weights(model: Qwen2, path: str | Path) -> None:
    """Load weights, with an error that says which tensors do not match the model config. When the
    folder's ``config.json`` records the file's hash (every checkpoint ``save`` writes), a file whose
    bytes changed since (a flipped bit, a bad copy) is refused."""
    p = Path(path)
    cfg_path = p.with_name("config.json")
    if cfg_path.exists():
        want = json.loads(cfg_path.read_text()).get(WEIGHTS_HASH_KEY)
        if want is not None and file_sha256(p) != want:
            raise ValueError(f"{p}: content hash differs from the one its config.json records (damaged)")
    apply_weights(model, load_file(str(p)), p)


def apply_weights(model: Qwen2, sd: dict[str, torch.Tensor], path: str | Path = "weights") -> None:
    """Load the tensors ``sd`` (read from ``path``) after checking every name and shape; on a
    mismatch the model is left untouched and the error names the tensors."""
    tied = model.cfg.tie_embeddings
    own = {k: v for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own) - ({"lm_head.weight"} if tied else set()))
    bad = sorted(k for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
    if missing or unexpected or bad:
        detail = "; ".join(
            f"{label}: {names[:4]}{' ...' if len(names) > 4 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", bad))
            if names
        )
        raise ValueError(f"{path}: checkpoint does not match the model config ({detail})")
    if tied:
        sd = {**sd, "lm_head.weight": sd["model.embed_tokens.weight"]}
    model.load_state_dict(sd, strict=True)
