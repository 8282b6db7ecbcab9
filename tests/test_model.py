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


def test_logits_at_selected_positions_equal_the_full_logits_there():
    m = make()
    g = torch.Generator().manual_seed(2)
    idx = torch.randint(0, CFG.vocab_size, (3, 40), generator=g)
    where = torch.rand(3, 40, generator=g) < 0.3
    with torch.no_grad():
        full, some = m(idx), m(idx, where=where)
    assert some.shape == (int(where.sum()), CFG.vocab_size)
    assert torch.allclose(some, full[where], atol=1e-6)


def test_save_load_round_trip(tmp_path):
    m = make()
    M.save(m, tmp_path / "ck")
    m2 = M.load(tmp_path / "ck")
    idx = torch.randint(0, CFG.vocab_size, (2, 10))
    with torch.no_grad():
        assert torch.equal(m(idx), m2(idx))
    assert m2.lm_head.weight.data_ptr() == m2.model.embed_tokens.weight.data_ptr()


def test_a_killed_saves_folder_goes_with_the_next_save_and_others_stay(tmp_path):
    # what SIGKILL during save leaves: mkdtemp's ".<name>.<8 random>" folder with a partial file
    left = tmp_path / ".ck.k2j4h5l6"
    left.mkdir()
    (left / "model.safetensors").write_bytes(b"partial")
    other = tmp_path / ".ck_s1.k2j4h5l6"  # another run's temporary
    other.mkdir()
    M.save(make(), tmp_path / "ck")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck_s1.k2j4h5l6", "ck"]
    assert M.load(tmp_path / "ck") is not None


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


def _check_packed_pair(m):
    """Two documents packed in one row (block-diagonal mask, restarted positions) get the logits
    each gets alone; returns the first document."""
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
    return a


def test_packed_documents_equal_separate_sequences():
    """A block-diagonal mask with restarted positions gives each document its own logits."""
    _check_packed_pair(make())


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
    a = _check_packed_pair(m)
    with torch.no_grad():
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


def test_checkpoint_loads_the_hugging_face_way_and_generates_like_our_sampler(tmp_path):
    """The fast tokenizer gives our ids and special tokens, AutoModelForCausalLM loads, and
    ``generate`` with the saved generation config stops where our sampler stops; the verifier scores
    what it writes."""
    transformers = pytest.importorskip("transformers")
    import polars as pl

    import tiny
    from interplay import data, sampling
    from interplay import tokenizer as T
    from interplay.evaluate import gold_nodes
    from interplay.task.spec import TaskSpec
    from interplay.task.verify import score

    task = TaskSpec(modulus=23, const_range=(0, 22), names="compact", letters="ordered")
    spec = data.dataset_spec("ev", {"split": "eval", "size": {"problems": 4}, "ops": "2-3"})
    data.write(tmp_path / "ev.parquet", data.generate(task, spec), spec, task)
    rows = pl.read_parquet(tmp_path / "ev.parquet").to_dicts()
    tok = T.train([r["text"] for r in rows], style="compact", max_number=22)
    T.save(tok, tmp_path / "tok.json")
    model = tiny.model(tok.get_vocab_size(), 128, seed=3)
    M.save(model, tmp_path / "ck", tmp_path / "tok.json")

    # transformers 5 maps every qwen2 checkpoint's AutoTokenizer to its own Qwen2Tokenizer, whose
    # hard-coded pre-tokenizer splits our names (MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS); the
    # generic fast tokenizer reads our tokenizer.json as it is
    hf_tok = transformers.PreTrainedTokenizerFast.from_pretrained(tmp_path / "ck")
    for r in rows:
        assert hf_tok(r["text"])["input_ids"] == tok.encode(r["text"]).ids
    assert (hf_tok.eos_token_id, hf_tok.pad_token_id, hf_tok.bos_token_id) == (T.EOS, T.PAD, T.BOS)
    assert hf_tok.convert_tokens_to_ids("</answer>") == tok.token_to_id("</answer>")
    assert len(hf_tok) == tok.get_vocab_size()  # nothing added

    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ck").eval()
    gen = transformers.GenerationConfig.from_pretrained(tmp_path / "ck")
    assert gen.max_new_tokens == 64 and gen.temperature == 0.7 and gen.top_k == 0 and gen.do_sample
    assert tok.token_to_id("</answer>") in gen.eos_token_id
    ans, stops = tok.token_to_id("</answer>"), [tok.token_to_id("</answer>"), T.EOS]
    for r in rows:  # greedy, 20 new tokens: the same ids (HF stops where we stop)
        prompt = tok.encode(r["prompt"]).ids
        ours = sampling.generate_reference(model, prompt, 20, [0.5] * 20, 0.0, 1.0, stop_ids=stops)
        with torch.no_grad():
            out = hf.generate(
                torch.tensor([prompt]), generation_config=gen, do_sample=False, max_new_tokens=20
            )
        assert out[0, len(prompt) :].tolist() == ours
        s = score(hf_tok.decode(ours), gold_nodes(r["gold"]), r["answer"], r["modulus"])
        assert s.n_gold == len(r["gold"]) and not s.verified  # an untrained model, scored
    # point </answer>'s output row at the prompt's last hidden state: both must stop after one token
    prompt = tok.encode(rows[0]["prompt"]).ids
    seen = {}
    hook = model.model.norm.register_forward_hook(lambda m, i, o: seen.setdefault("h", o[0, -1].clone()))
    with torch.no_grad():
        model(torch.tensor([prompt]))
        hook.remove()
        for m in (model, hf):
            m.lm_head.weight[ans] = 10 * seen["h"]
        out = hf.generate(torch.tensor([prompt]), generation_config=gen)  # sampled, T = 0.7
    assert out[0, len(prompt) :].tolist() == [ans]
    assert sampling.generate_reference(model, prompt, 5, [0.5] * 5, 0.7, 1.0, stop_ids=stops) == [ans]
    card = (tmp_path / "ck" / "README.md").read_text()
    assert "AutoModelForCausalLM.from_pretrained" in card and f"{model.cfg.n_params():,}" in card
