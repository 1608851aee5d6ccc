"""The packed pretraining path (training/packed.py): pack, stream, masking on the device, schedule, resume."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from minzheng_ie.core.errors import InputError

torch = pytest.importorskip("torch")
pytest.importorskip("jieba")

# digits, Latin, a space, traditional script and an astral character, as the tagger sees them
TEXTS = ["低保标准每人每月620元，保障88.72万人。", "城乡居民 最低生活保障 APP 上线", "臺灣地區社會救助𠀀共計3.5億元",
         "特困人员救助供养标准提高到每人每年1.2万元"]


@pytest.fixture()
def corpus(tmp_path):
    a = tmp_path / "reports.jsonl"
    a.write_text("\n".join(json.dumps({"text": t * 20}, ensure_ascii=False) for t in TEXTS) + "\n", encoding="utf-8")
    b = tmp_path / "laws.jsonl"
    b.write_text(json.dumps({"text": "第一条 为了规范社会救助，保障公民的基本生活，制定本办法。" * 30}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    return a, b


def config(tmp_path, corpus, **kw):
    from minzheng_ie.training.packed import PackedPretrainConfig

    a, b = corpus
    base = dict(inputs=(str(a), str(b)), pack=str(tmp_path / "pack.npz"), holdout_every=0, eval_inputs=(str(a),),
                output_dir=str(tmp_path / "out"), base_model="scratch:tiny", chunk_chars=30, batch_size=4,
                max_steps=4, warmup_steps=2, eval_steps=2, logging_steps=2, bf16=False, save_dtype="float32")
    return PackedPretrainConfig(**{**base, **kw})


def test_pack_holds_the_tagger_tokens_and_jieba_word_starts(tmp_path, corpus):
    import jieba
    import numpy as np

    from minzheng_ie.training.packed import pack_corpus, read_pack
    from minzheng_ie.training.vocab import character_tokenizer

    summary = pack_corpus(config(tmp_path, corpus))
    pack = read_pack(summary["pack"])
    assert pack["meta"]["documents"] == 5 and list(pack["meta"]["sources"]) == ["reports.jsonl", "laws.jsonl"]
    tok = character_tokenizer()
    first = TEXTS[0] * 20
    a, b = pack["doc_offsets"][:2]
    expected = tok(list(first), is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert pack["ids"][a:b].tolist() == expected
    # a space gives no token, so the stream is shorter than the text exactly by the spaces
    c, d = pack["doc_offsets"][1:3]
    assert d - c == len((TEXTS[1] * 20).replace(" ", ""))
    words = list(jieba.cut(first, HMM=False))
    starts = np.cumsum([0] + [len(w) for w in words[:-1]])
    assert np.flatnonzero(pack["word_start"][a:b]).tolist() == starts.tolist()
    astral = pack["ids"][pack["doc_offsets"][2]:pack["doc_offsets"][3]]
    assert tok.unk_token_id in astral.tolist()  # 𠀀 is one [UNK], the alignment holds
    assert pack["eval_input_ids"].shape[1] == 128  # no held-out slice here: no rows, the width kept


def test_held_out_batches_are_those_mzie_pretrain_scores(tmp_path, corpus):
    import numpy as np

    from minzheng_ie.training.packed import pack_corpus, read_pack
    from minzheng_ie.training.pretrain import (PretrainConfig, chunk_and_tokenize, held_out_batches, input_files,
                                               load_texts, select_documents)
    from minzheng_ie.training.vocab import character_tokenizer

    a, b = corpus
    many = tmp_path / "many.jsonl"
    many.write_text("\n".join(json.dumps({"text": f"第{i}号文件：" + TEXTS[i % 4] * 5}, ensure_ascii=False)
                              for i in range(60)) + "\n", encoding="utf-8")
    cfg = config(tmp_path, corpus, inputs=(str(many), str(b)), eval_inputs=(str(many),), holdout_every=4)
    pack = read_pack(pack_corpus(cfg)["pack"])
    pcfg = PretrainConfig(base_model="scratch:tiny", inputs=(str(many),), output_dir="x", chunk_chars=126,
                          holdout_every=4)
    tok = character_tokenizer()
    _, held, _ = select_documents(load_texts(input_files(pcfg.inputs), None, with_source=True), pcfg)
    batches = held_out_batches(chunk_and_tokenize(held, tok, pcfg).shuffle(seed=pcfg.seed), tok, pcfg)
    rows = [r for bt in batches for r in bt["labels"].tolist()]
    assert len(rows) == len(pack["eval_labels"]) > 0
    for got, want in zip(pack["eval_labels"], rows):
        assert got[:len(want)].tolist() == want and (got[len(want):] == -100).all()
    # held-out documents are not in the training stream
    assert len(held) > 0
    stream = pack["ids"].tobytes()
    for text in held["text"]:
        head = np.asarray(tok(list(text[:8]), is_split_into_words=True, add_special_tokens=False)["input_ids"],
                          dtype=np.uint16)
        assert stream.find(head.tobytes()) == -1, text[:8]


def test_windows_are_masked_by_whole_words_and_never_on_specials():
    from minzheng_ie.training.packed import sample_batch

    n = 400
    stream = torch.arange(n) + 10  # token value - 10 = stream position, so each window can be traced back
    stream[200] = 3  # a document separator, [SEP]
    starts = torch.zeros(n, dtype=torch.bool)
    starts[::4] = True  # words of four tokens
    starts[200] = True
    tok_ids = {"cls": 2, "sep": 3, "mask": 4}
    g = torch.Generator().manual_seed(0)
    seen_separator = False
    for _ in range(20):
        batch = sample_batch(stream, starts, 16, 30, tok_ids, g, 0.3, 1000)
        ids, labels = batch["input_ids"], batch["labels"]
        assert ids.shape == (16, 32) and (ids[:, 0] == 2).all() and (ids[:, -1] == 3).all()
        masked = labels != -100
        assert masked.any() and not masked[:, 0].any() and not masked[:, -1].any()
        assert not (labels == 3).any()  # the separator inside a window is never a target
        original = torch.where(masked, labels, ids)[:, 1:-1]
        seen_separator |= bool((original == 3).any())
        for row, m in zip(original, masked[:, 1:-1]):
            fate: dict[int, bool] = {}
            for value, was_masked in zip(row.tolist(), m.tolist()):
                if value == 3:
                    continue
                word = (value - 10) // 4
                assert fate.setdefault(word, was_masked) == was_masked, "a word was masked in part"
    assert seen_separator
    token_level = sample_batch(stream, starts, 64, 30, tok_ids, torch.Generator().manual_seed(1), 0.3, 1000,
                               whole_words=False)
    parts = (token_level["labels"] != -100)[:, 1:-1]
    assert parts.any()


def test_schedule_warms_up_holds_and_decays_to_zero_at_the_budget(tmp_path, corpus):
    from minzheng_ie.training.packed import learning_rate

    cfg = config(tmp_path, corpus, learning_rate=1e-3, warmup_steps=10, decay_fraction=0.2, max_steps=100,
                 max_minutes=1e9)
    assert learning_rate(cfg, 0, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 50, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 90, 0) == pytest.approx(5e-4)
    assert learning_rate(cfg, 100, 0) == 0
    timed = replace(cfg, max_steps=10**9, max_minutes=10)
    assert learning_rate(timed, 50, 9 * 60) == pytest.approx(5e-4)  # the time budget decays it just the same


def test_checkpoint_restores_weights_moments_and_sampler(tmp_path):
    from minzheng_ie.training.packed import _load_checkpoint, _optimizer, _save_checkpoint, sample_batch
    from minzheng_ie.training.pretrain import build_mlm_model, masked_positions_loss

    cfg = config(tmp_path, (tmp_path, tmp_path))
    stream = torch.randint(10, 500, (2000,))
    starts = torch.ones(2000, dtype=torch.bool)
    tok_ids = {"cls": 2, "sep": 3, "mask": 4}

    def step(model, opt, g):
        batch = sample_batch(stream, starts, 4, 30, tok_ids, g, 0.15, 600)
        masked_positions_loss(model, **batch)[0].backward()
        opt.step()
        opt.zero_grad()

    torch.manual_seed(0)
    _, model = build_mlm_model("scratch:tiny")
    opt, g = _optimizer(model, cfg, fused=False), torch.Generator().manual_seed(5)
    step(model, opt, g)
    _save_checkpoint(tmp_path / "ck", model, opt, g, {"step": 1, "elapsed_s": 1.0, "curve": {}})
    step(model, opt, g)  # the run goes on (dropout draws from the global generator) ...
    torch.manual_seed(1)
    _, other = build_mlm_model("scratch:tiny")
    opt2, g2 = _optimizer(other, cfg, fused=False), torch.Generator().manual_seed(99)
    assert _load_checkpoint(tmp_path / "ck", other, opt2, g2)["step"] == 1
    step(other, opt2, g2)  # ... and a resumed one takes the very same step
    for (name, p), q in zip(model.named_parameters(), other.parameters()):
        assert torch.equal(p, q), name


def test_pretrain_packed_trains_saves_shards_and_resumes(tmp_path, corpus):
    from transformers import AutoModel

    from minzheng_ie.training.packed import pack_corpus, pretrain_packed

    cfg = config(tmp_path, corpus, max_shard_size="2MB", sources=("reports.jsonl",))
    pack_corpus(cfg)
    summary = pretrain_packed(cfg)
    out = tmp_path / "out"
    assert summary["steps"] == 4 and summary["sources"] == ["reports.jsonl"]
    assert len(list(out.glob("model-*.safetensors"))) > 1  # sharded at max_shard_size
    assert AutoModel.from_pretrained(out).config.num_hidden_layers == 2
    curve = json.loads((out / "pretrain_curve.json").read_text())
    assert [p["step"] for p in curve["held_out"]] == []  # no held-out slice in this pack
    assert pretrain_packed(replace(cfg, max_steps=6), resume=True)["steps"] == 6
    with pytest.raises(InputError, match="no checkpoint"):
        pretrain_packed(replace(cfg, output_dir=str(tmp_path / "fresh")), resume=True)
    with pytest.raises(InputError, match="not in the pack"):
        pretrain_packed(replace(cfg, sources=("news.jsonl",), output_dir=str(tmp_path / "o2")))
    with pytest.raises(InputError, match="mzie pretrain-pack"):
        pretrain_packed(replace(cfg, pack=str(tmp_path / "missing.npz")))


def test_pretrain_score_compares_encoders_on_the_held_out_batches(tmp_path, corpus, capsys):
    from minzheng_ie.core.cli import main
    from minzheng_ie.training.pretrain import (PretrainConfig, build_mlm_model, chunk_and_tokenize,
                                               evaluate_held_out, held_out_batches, input_files, load_texts,
                                               score_encoders, select_documents)

    many = tmp_path / "many.jsonl"
    many.write_text("\n".join(json.dumps({"text": f"第{i}号文件：" + TEXTS[i % 4] * 5}, ensure_ascii=False)
                              for i in range(60)) + "\n", encoding="utf-8")
    dirs = []
    for seed in (0, 1):  # two different random encoders
        torch.manual_seed(seed)
        tok, model = build_mlm_model("scratch:tiny")
        model.save_pretrained(tmp_path / f"enc{seed}")
        tok.save_pretrained(tmp_path / f"enc{seed}")
        dirs.append(str(tmp_path / f"enc{seed}"))
    cfg = PretrainConfig(base_model="scratch:tiny", inputs=(str(many),), output_dir="x", chunk_chars=30, holdout_every=4)
    rows = score_encoders(cfg, dirs)
    _, held, _ = select_documents(load_texts(input_files(cfg.inputs), None, with_source=True), cfg)
    tok, model = build_mlm_model(dirs[1])
    want = evaluate_held_out(model, held_out_batches(chunk_and_tokenize(held, tok, cfg).shuffle(seed=cfg.seed), tok, cfg))
    assert rows[1]["accuracy"] == want["accuracy"] and rows[1]["loss"] == pytest.approx(want["loss"])
    assert rows[0]["loss"] != rows[1]["loss"] and rows[0]["masked"] == rows[1]["masked"] > 0
    assert rows[0]["documents"] == len(held) > 0 and rows[0]["chunk_chars"] == 30
    conf = tmp_path / "p.yaml"
    conf.write_text(f"base_model: scratch:tiny\ninputs: ['{many}']\noutput_dir: x\nholdout_every: 4\n", encoding="utf-8")
    out = tmp_path / "scores.json"
    assert main(["pretrain-score", "--config", str(conf), "--set", "chunk_chars=30", "--model", dirs[0],
                 "--model", dirs[1], "-o", str(out)]) == 0
    assert f"| {dirs[1]} | {want['accuracy']:.4f} |" in capsys.readouterr().out
    assert [r["loss"] for r in json.loads(out.read_text(encoding="utf-8"))["scores"]] == [r["loss"] for r in rows]
    with pytest.raises(InputError, match="holdout_every is 0"):
        score_encoders(replace(cfg, holdout_every=0), dirs)


# The GPU image as the script meets it: the project not installed and these packages absent.
WITHOUT_PROJECT = '''
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
ABSENT = {"datasets", "seqeval", "label_studio_sdk", "opencc", "jionlp", "jieba", "ray"}
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            raise ImportError("absent here: " + name)
sys.meta_path.insert(0, Absent())
'''


def test_gpu_script_trains_its_three_variants_with_only_torch_and_transformers(tmp_path):
    """training/pretrain_gpu.sh on a pack whose files carry the corpus's names, in an interpreter
    that has neither the project installed nor its data-pipeline packages (as on a bare GPU image)."""
    import gzip
    import subprocess
    import sys

    from conftest import REPO
    from transformers import AutoModelForMaskedLM

    from minzheng_ie.training.packed import pack_corpus

    domain = ["gwr_national_1954_2024", "gwr_provincial_2025", "cpc_congress_reports", "stat_bulletins_a23",
              "crud_news_2023_govrelated"]
    files = []
    for k, name in enumerate(domain + ["laws_regulations_lawrefbook"]):
        path = tmp_path / f"{name}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(json.dumps({"text": TEXTS[k % 4] * 10}, ensure_ascii=False) + "\n")
        files.append(str(path))
    pack = pack_corpus(config(tmp_path, (files[0], files[1]), inputs=tuple(files), eval_inputs=(files[0],)))["pack"]
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(WITHOUT_PROJECT, encoding="utf-8")
    out = tmp_path / "gpu"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": sys.executable, "PACK": pack,
           "PYTHONPATH": str(site)}
    sets = ["chunk_chars=30", "batch_size=4", "bf16=false", "max_steps=2", "warmup_steps=1", "logging_steps=1",
            "eval_steps=1", "save_dtype=float32"]
    proc = subprocess.run(["sh", "training/pretrain_gpu.sh", "1", str(out)] + [a for s in sets for a in ("--set", s)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {}
    for name, layers, sources in (("small-domain", 4, 5), ("small-all", 4, 6), ("small6-all", 6, 6)):
        summary = json.loads((out / name / "pretrain_summary.json").read_text(encoding="utf-8"))
        assert summary["steps"] == 2 and len(summary["sources"]) == sources
        assert AutoModelForMaskedLM.from_pretrained(out / name).config.num_hidden_layers == layers
        rows[name] = [line for line in proc.stdout.splitlines() if line.startswith(name + " ")]
    assert all(len(r) == 1 and r[0].split()[1:3] == ["0", "2"] for r in rows.values())
    # a run that fails stops the others at once and shows why
    proc = subprocess.run(["sh", "training/pretrain_gpu.sh", "1", str(tmp_path / "bad"), "--set", "masking=bogus"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "masking 'bogus'" in proc.stderr
