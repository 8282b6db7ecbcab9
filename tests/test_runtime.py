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
    outs = []
    for n in ("1", "2"):
        env = {"INTERPLAY_THREADS": n, "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-c", _STEP, n], capture_output=True, env=env, check=True)
        outs.append(r.stdout)
    assert len(outs[0]) > 100_000
    assert outs[0] == outs[1]
