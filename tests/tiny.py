"""The tiny model the tests share: one layer of width 32 (2 heads, 1 KV head), seconds on one thread."""

import torch

from interplay import model as M
from interplay.train import TrainConfig


def config(vocab_size: int, max_seq_len: int = 512, **over) -> M.ModelConfig:
    return M.ModelConfig(
        vocab_size=vocab_size,
        n_layer=1,
        d_model=32,
        n_head=2,
        n_kv_head=1,
        d_ff=64,
        max_seq_len=max_seq_len,
        **over,
    )


def model(vocab_size: int, max_seq_len: int = 512, seed: int = 0) -> M.Qwen2:
    """A freshly initialised tiny model, its weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return M.Qwen2(config(vocab_size, max_seq_len))


def train_config(steps: int, seq_len: int, **over) -> TrainConfig:
    """``steps`` steps of 4 sequences of ``seq_len`` tokens on one CPU thread; ``over`` sets the rest."""
    return TrainConfig(
        dataset="x",
        tokens=steps * 4 * seq_len,
        batch_size=4,
        seq_len=seq_len,
        lr=3e-3,
        min_lr=3e-4,
        threads=1,
        device="cpu",
        **over,
    )
