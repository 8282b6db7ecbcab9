"""The thread override: INTERPLAY_THREADS replaces a stage's thread count without touching params,
which is only sound because the thread count does not change the numbers (checked here)."""

import subprocess
import sys

import pytest

from interplay.params import ParamsError
from interplay.runtime import threads_override


def test_override_replaces_the_params_value_and_rejects_garbage(monkeypatch):
    monkeypatch.delenv("INTERPLAY_THREADS", raising=False)
    assert threads_override(2) == 2
    monkeypatch.setenv("INTERPLAY_THREADS", "1")
    assert threads_override(2) == 1
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("INTERPLAY_THREADS", bad)
        with pytest.raises(ParamsError, match="INTERPLAY_THREADS"):
            threads_override(2)


def _at_one_and_two_threads(script: str) -> list[bytes]:
    """stdout of ``script`` run with INTERPLAY_THREADS=1, then =2 (it asserts it got that many)."""
    outs = []
    for n in ("1", "2"):
        env = {"INTERPLAY_THREADS": n, "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-c", script, n], capture_output=True, env=env, check=True)
        outs.append(r.stdout)
    return outs


_STEP = """
import sys, torch
from interplay.model import ModelConfig, Qwen2
from interplay.runtime import set_threads
set_threads(2)
assert torch.get_num_threads() == int(sys.argv[1]), torch.get_num_threads()
torch.manual_seed(0)
m = Qwen2(ModelConfig(vocab_size=1105, tie_embeddings=False))  # the default shape
x = torch.randint(0, 1105, (4, 512))
logits = m(x)
torch.nn.functional.cross_entropy(logits.view(-1, 1105), x.view(-1)).backward()
grads = b"".join(p.grad.numpy().tobytes() for p in m.parameters())
sys.stdout.buffer.write(grads + logits.detach().numpy().tobytes())
"""


def test_one_and_two_threads_give_bit_identical_gradients(tmp_path):
    """If this fails on a machine, do not use INTERPLAY_THREADS there: cached results would differ."""
    outs = _at_one_and_two_threads(_STEP)
    assert len(outs[0]) > 100_000
    assert outs[0] == outs[1]


_RL_UPDATE = """
import sys, torch
from interplay import model as M, rl
from interplay.runtime import set_threads
set_threads(2)
assert torch.get_num_threads() == int(sys.argv[1]), torch.get_num_threads()
torch.manual_seed(0)
cfg = M.ModelConfig(vocab_size=64, n_layer=1, d_model=32, n_head=2, n_kv_head=1, d_ff=64)
policy, ref = M.Qwen2(cfg), M.Qwen2(cfg)
g = torch.Generator().manual_seed(1)
# 80 completions of 450 tokens: the logged sums run over 36,000 > 32,768 elements (torch's grain)
seqs = [(torch.randint(0, 64, (8,), generator=g).tolist(), torch.randint(0, 64, (450,), generator=g).tolist())
        for _ in range(80)]
advs = torch.randn(80, generator=g).tolist()
opt = torch.optim.AdamW(policy.parameters(), lr=1e-3, foreach=False)
stats = rl._update(policy, policy, ref, opt, seqs, advs, rl.RLConfig(dataset="d", init="i"), "cpu")
print(repr(sorted(stats.items())))
sys.stdout.flush()
sys.stdout.buffer.write(b"".join(p.detach().numpy().tobytes() for p in policy.parameters()))
"""


def test_rl_update_weights_and_logged_statistics_do_not_depend_on_threads():
    """The GRPO update's weights and its logged loss / KL / entropy / clip fraction: the logs are sums
    over all completion tokens, so they must not be split across threads in a thread-dependent way."""
    outs = _at_one_and_two_threads(_RL_UPDATE)
    stats = [o.split(b"\n", 1)[0].decode() for o in outs]
    assert "'kl'" in stats[0] and "'entropy'" in stats[0]
    assert stats[0] == stats[1]
    assert len(outs[0]) > 10_000 and outs[0] == outs[1]


_BF16_STEP = """
import sys, torch
from interplay import train as TR
from interplay.dist import Dist
from interplay.model import ModelConfig, Qwen2, adamw
from interplay.runtime import autocast, set_threads
set_threads(2)
assert torch.get_num_threads() == int(sys.argv[1]), torch.get_num_threads()
torch.manual_seed(0)
m = Qwen2(ModelConfig(vocab_size=1105, tie_embeddings=False))  # the default shape
opt = adamw(m, 1e-3, (0.9, 0.95), 0.1)
cfg = TR.TrainConfig(dataset="d", precision="bf16")
x = torch.randint(0, 1105, (4, 512))
batch = {"idx": x, "targets": torch.roll(x, -1, 1), "loss_mask": torch.rand(4, 512) < 0.4}
losses = [TR.train_step(m, list(m.parameters()), opt, batch, 1e-3, cfg, Dist(), autocast("cpu", "bf16"))
          for _ in range(3)]
print(repr(losses))
sys.stdout.flush()
sys.stdout.buffer.write(b"".join(p.detach().numpy().tobytes() for p in m.parameters()))
"""


def test_bf16_training_steps_do_not_depend_on_threads():
    """``precision: bf16`` on CPU (oneDNN's bf16 products) keeps the thread override sound: three
    full steps (forward under autocast, backward, AdamW) leave the same weights at 1 and 2 threads."""
    outs = _at_one_and_two_threads(_BF16_STEP)
    assert len(outs[0]) > 100_000
    assert outs[0] == outs[1]


def test_bf16_rl_update_does_not_depend_on_threads():
    script = _RL_UPDATE.replace(
        'rl.RLConfig(dataset="d", init="i")', 'rl.RLConfig(dataset="d", init="i", precision="bf16")'
    )
    assert 'precision="bf16"' in script
    outs = _at_one_and_two_threads(script)
    assert len(outs[0]) > 10_000 and outs[0] == outs[1]


def test_precision_picks_the_forward_arithmetic():
    import torch

    from interplay.runtime import autocast

    lin = torch.nn.Linear(64, 64)
    x = torch.randn(8, 64)
    with autocast("cpu", "bf16"):
        assert lin(x).dtype == torch.bfloat16
    for p in ("auto", "fp32"):  # CPU's default stays fp32: the recorded results' arithmetic
        with autocast(torch.device("cpu"), p):
            assert lin(x).dtype == torch.float32
    with pytest.raises(ValueError, match="precision"):
        autocast("cpu", "fp16")
