"""The compute ledger reproduces the paper's Table 3 from its constants."""

import pytest

from interplay.compute import rl_flops, rl_token_equivalent, split_budget

# paper constants: 1,024 prompts per RL step, 6 rollouts, L = 2,048 cap, 524,288 tokens per mid step
PAPER = {"rollouts": 6, "seq_len": 2048, "mid_tokens_per_step": 524_288, "rl_prompts_per_step": 1024}

# Table 3: T (mid-only steps, RL-only steps, 80/20, 50/50, 20/80 as mid/RL steps)
TABLE3 = [
    (2_000, 50, (1_600, 10), (1_000, 25), (400, 40)),
    (4_000, 100, (3_200, 20), (2_000, 50), (800, 80)),
    (8_000, 200, (6_400, 40), (4_000, 100), (1_600, 160)),
    (16_000, 400, (12_800, 80), (8_000, 200), (3_200, 320)),
    (24_000, 600, (19_200, 120), (12_000, 300), (4_800, 480)),
    (32_000, 800, (25_600, 160), (16_000, 400), (6_400, 640)),
]


def test_one_rl_step_is_forty_mid_steps():
    per_step = rl_token_equivalent(1024, 6, 2048)
    assert per_step == pytest.approx(20_971_520)
    assert per_step / 524_288 == pytest.approx(40)
    assert rl_flops(10, 1024, 6, 2048) / (6 * 10) == pytest.approx(per_step)


@pytest.mark.parametrize("mid_only, rl_only, s80, s50, s20", TABLE3)
def test_table3_rows(mid_only, rl_only, s80, s50, s20):
    total = mid_only * 524_288
    assert split_budget(total, 0.0, **PAPER).mid_steps == mid_only
    assert split_budget(total, 1.0, **PAPER).rl_steps == rl_only
    for beta, (mid, rl) in ((0.2, s80), (0.5, s50), (0.8, s20)):
        s = split_budget(total, beta, **PAPER)
        assert (s.mid_steps, s.rl_steps) == (mid, rl)
        assert s.rl_prompts == rl * 1024


def test_20b_row_and_no_reference_model():
    s = split_budget(20e9, 1.0, **PAPER)
    assert s.rl_steps == 953  # the paper prints 954 (20e9 / 20,971,520 = 953.67, rounded up)
    assert split_budget(20e9, 0.0, **PAPER).mid_steps == 38_147
    assert rl_token_equivalent(1, 6, 2048, gamma=0.0) < rl_token_equivalent(1, 6, 2048, gamma=1.0)
    with pytest.raises(ValueError, match="beta"):
        split_budget(1e9, 1.5, **PAPER)
