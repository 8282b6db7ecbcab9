"""Model: Hugging Face Qwen2 compatibility, checkpoint round trip, clear errors on mismatches."""

import json

import pytest
import torch

import tiny
from interplay import model as M
from interplay.params import ParamsError

CFG = M.ModelConfig(vocab_size=300, n_layer=2, d_model=64, n_head=4, n_kv_head=2, d_ff=96, max_seq_len=64)


def make(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    return M.Qwen2(cfg).eval()


def test_param_count_matches_formula():
    m = make()
    assert sum(p.numel() for p in m.parameters()) == CFG.n_params()


def test_loads_into_transformers_qwen2_and_matches_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    m = make()
    M.save(m, tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen2ForCausalLM"] and cfg["tie_word_embeddings"]
    hf = transformers.Qwen2ForCausalLM.from_pretrained(tmp_path / "ck").eval()
    idx = torch.randint(0, CFG.vocab_size, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = m(idx), hf(idx).logits
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_save_load_round_trip(tmp_path):
    m = make()
    M.save(m, tmp_path / "ck")
    m2 = M.load(tmp_path / "ck")
    idx = torch.randint(0, CFG.vocab_size, (2, 10))
    with torch.no_grad():
        assert torch.equal(m(idx), m2(idx))
    assert m2.lm_head.weight.data_ptr() == m2.model.embed_tokens.weight.data_ptr()


def test_a_flipped_bit_in_saved_weights_is_refused(tmp_path):
    m = make()
    M.save(m, tmp_path / "ck")
    w = tmp_path / "ck" / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-3] ^= 0x01  # still a valid float: only the recorded hash can tell
    w.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="content hash differs"):
        M.load(tmp_path / "ck")
    with pytest.raises(ValueError, match="content hash differs"):
        M.load_weights(make(), w)


def test_mismatched_checkpoint_is_named(tmp_path):
    M.save(make(), tmp_path / "ck")
    other = M.Qwen2(M.ModelConfig(vocab_size=300, n_layer=2, d_model=32, n_head=2, n_kv_head=1, d_ff=96))
    with pytest.raises(ValueError, match=r"does not match the model config.*shape mismatch"):
        M.load_weights(other, tmp_path / "ck" / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        M.load(tmp_path / "nothing")


def test_packed_documents_equal_separate_sequences():
    """A block-diagonal mask with restarted positions gives each document its own logits."""
    m = make()
    a = torch.randint(0, 300, (1, 7))
    b = torch.randint(0, 300, (1, 5))
    packed = torch.cat([a, b], dim=1)
    pos = torch.cat([torch.arange(7), torch.arange(5)]).unsqueeze(0)
    doc = torch.tensor([0] * 7 + [1] * 5)
    mask = ((doc[:, None] == doc[None, :]) & torch.ones(12, 12, dtype=torch.bool).tril())[None, None]
    with torch.no_grad():
        out = m(packed, pos, mask)
        assert torch.allclose(out[:, :7], m(a), atol=1e-5)
        assert torch.allclose(out[:, 7:], m(b), atol=1e-5)


def _canon(cfg=CFG, seed=0, scale=0.5):
    """A Canon model whose convolutions are random (not the zero-initialised identity)."""
    m = make(M.ModelConfig(**{**cfg.__dict__, "canon": True}), seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if ".canon_" in name:
                p.normal_(0.0, scale, generator=torch.Generator().manual_seed(seed + 1))
    return m


def test_canon_starts_as_the_identity_and_counts_its_parameters():
    plain, canon = make(), make(M.ModelConfig(**{**CFG.__dict__, "canon": True}))
    assert sum(p.numel() for p in canon.parameters()) == canon.cfg.n_params()
    assert canon.cfg.n_params() - CFG.n_params() == CFG.n_layer * 2 * CFG.d_model * M.CANON_WIDTH
    canon.load_state_dict(plain.state_dict(), strict=False)  # same weights; Canon still zero
    idx = torch.randint(0, CFG.vocab_size, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(canon(idx), plain(idx))
        changed = _canon()
        changed.load_state_dict(
            {**plain.state_dict(), **{k: v for k, v in changed.state_dict().items() if "canon" in k}}
        )
        assert not torch.allclose(changed(idx), plain(idx), atol=1e-3)


def test_canon_is_causal_and_stays_inside_packed_documents():
    m = _canon()
    a = torch.randint(0, 300, (1, 7))
    b = torch.randint(0, 300, (1, 5))
    packed = torch.cat([a, b], dim=1)
    pos = torch.cat([torch.arange(7), torch.arange(5)]).unsqueeze(0)
    doc = torch.tensor([0] * 7 + [1] * 5)
    mask = ((doc[:, None] == doc[None, :]) & torch.ones(12, 12, dtype=torch.bool).tril())[None, None]
    with torch.no_grad():
        out = m(packed, pos, mask)
        assert torch.allclose(out[:, :7], m(a), atol=1e-5)
        assert torch.allclose(out[:, 7:], m(b), atol=1e-5)
        # causal: a later token never changes an earlier logit
        longer = torch.cat([a, torch.randint(0, 300, (1, 4))], dim=1)
        assert torch.allclose(m(longer)[:, :7], m(a), atol=1e-5)


def test_canon_checkpoint_round_trips_and_transformers_refuses_it(tmp_path):
    transformers = pytest.importorskip("transformers")
    m = _canon()
    M.save(m, tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["model_type"] == M.CANON_MODEL_TYPE and cfg["interplay"]["canon"] is True
    idx = torch.randint(0, CFG.vocab_size, (2, 16))
    with torch.no_grad():
        assert torch.equal(M.load(tmp_path / "ck")(idx), m(idx))
    with pytest.raises((ValueError, KeyError)):  # an unknown model type, never a silent Qwen2
        transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ck")


@pytest.mark.parametrize(
    "entry, key",
    [
        ({"d_model": 130, "n_head": 4}, "model.n_head: d_model 130 is not divisible"),
        ({"n_head": 4, "n_kv_head": 3}, "model.n_kv_head: n_head 4 is not divisible"),
        ({"n_layer": 0}, "model.n_layer: must be >= 1"),
        ({"width": 3}, "model.width: unknown key"),
        ({"canon": "yes"}, "model.canon: expected true or false"),
    ],
)
def test_bad_model_params(entry, key):
    with pytest.raises(ParamsError) as err:
        M.config_from_params(entry, 100)
    assert str(err.value).startswith(key)


def test_untied_embeddings_save_and_load_into_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = tiny.config(300, tie_embeddings=False)
    m = make(cfg)
    assert m.lm_head.weight.data_ptr() != m.model.embed_tokens.weight.data_ptr()
    assert sum(p.numel() for p in m.parameters()) == cfg.n_params()
    M.save(m, tmp_path / "ck")
    hf = transformers.Qwen2ForCausalLM.from_pretrained(tmp_path / "ck").eval()
    idx = torch.randint(0, 300, (2, 12))
    with torch.no_grad():
        assert torch.allclose(m(idx), hf(idx).logits, atol=1e-4)
        assert torch.equal(M.load(tmp_path / "ck")(idx), m(idx))
