"""Training, saving, loading and decoding on tiny models built here (no hub, no downloads)."""
import importlib.util
import json
import random
import shutil

import pytest
import torch

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, write_jsonl
from minzheng_ie.core.schema import load_schema
from minzheng_ie.training.codec import bio_labels
from minzheng_ie.training.encoders import encoder_parts
from minzheng_ie.training.model import JointModel, RelationHead, RelationHeadConfig
from minzheng_ie.training.predict import DecodeSettings, predict_doc

SCHEMA = load_schema()
BIO = bio_labels(SCHEMA.entity_labels)
ID2LABEL = dict(enumerate(BIO))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, request):
    """A 2-layer scratch model trained for a few epochs on the hand-made fixtures."""
    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.training.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("train")
    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp / "data.jsonl")
    cfg = TrainConfig(data=str(tmp / "data.jsonl"), dev=str(tmp / "data.jsonl"), output_dir=str(tmp / "model"),
                      base_model="scratch:tiny", epochs=4, batch_size=4, learning_rate=3e-3, patience=10,
                      max_length=32, stride=8)
    info = train(cfg)
    return tmp / "model", docs, info


def test_train_save_load_gives_identical_predictions(trained):
    from minzheng_ie.inference.model_tagger import ModelTagger
    from minzheng_ie.training.persist import load_model

    path, docs, info = trained
    assert len(info["history"]) == 4 and info["git"] is None or isinstance(info["git"], str)
    saved = json.loads((path / "minzheng.json").read_text(encoding="utf-8"))
    assert saved["train_config"]["base_model"] == "scratch:tiny" and saved["bio_labels"] == BIO
    assert (path / "schema.yaml").exists() and (path / "training_curve.png").stat().st_size > 0
    assert not (path / "checkpoints").exists()
    model, tok, schema, _, settings = load_model(path)
    again, _, _, _, _ = load_model(path)
    for doc in docs:
        a = predict_doc(model, tok, Doc(doc.id, doc.text), schema, ID2LABEL, settings)
        b = predict_doc(again, tok, Doc(doc.id, doc.text), schema, ID2LABEL, settings)
        assert a.to_json() == b.to_json()
    tagger = ModelTagger(path)
    tagged = tagger(Doc("x", docs[0].text))
    assert tagged.meta.extra == {} and tagger.model_version.startswith("model")


def test_float16_storage_halves_the_folder_and_loads_as_the_rounded_float32_model(trained, tmp_path):
    from safetensors import safe_open

    from minzheng_ie.training.persist import load_model, save_model

    path, docs, _ = trained
    model, tok, schema, info, settings = load_model(path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    save_model(tmp_path / "half", model, tok, info, dtype="float16")
    # the model in memory is untouched by saving it in another dtype
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    for f in ("model.safetensors", "relation_head.safetensors"):
        with safe_open(str(tmp_path / "half" / f), "pt") as h:
            assert {h.get_tensor(k).dtype for k in h.keys()} == {torch.float16}, f
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * (path / "model.safetensors").stat().st_size
    half, _, _, _, _ = load_model(tmp_path / "half")
    for k, v in half.state_dict().items():
        assert v.dtype == before[k].dtype, k  # float32 again once loaded
        if v.is_floating_point():
            assert torch.equal(v, before[k].half().float()), k
    for doc in docs:
        predict_doc(half, tok, Doc(doc.id, doc.text), schema, ID2LABEL, settings)  # it tags


def test_save_dtype_is_checked_before_anything_runs(tmp_path):
    from minzheng_ie.training.train import TrainConfig, train

    with pytest.raises(InputError, match="save_dtype: 'half'"):
        train(TrainConfig(data="x", output_dir=str(tmp_path / "m"), save_dtype="half"))


def test_entity_head_loads_alone_as_a_standard_token_classifier(trained):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from minzheng_ie.training.persist import load_model

    path, docs, _ = trained
    alone = AutoModelForTokenClassification.from_pretrained(path).eval()
    joint, tok, _, _, _ = load_model(path)
    assert alone.config.id2label[1] == "B-region"
    enc = AutoTokenizer.from_pretrained(path)(list(docs[0].text), is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        a = alone(**enc).logits
        b, _ = joint.encode(enc["input_ids"], enc["attention_mask"])
    assert torch.allclose(a, b, atol=1e-5)


def position_free_model() -> tuple[JointModel, object]:
    """A model whose outputs depend on each character alone (no position signal, attention
    output zeroed so no token sees another): whatever the windows, every character must get
    the same label and every pair the same score."""
    from transformers import BertForTokenClassification

    tok, config = encoder_parts("scratch:tiny")
    config.num_hidden_layers = 1
    config.num_labels, config.id2label, config.label2id = len(BIO), ID2LABEL, {v: k for k, v in ID2LABEL.items()}
    torch.manual_seed(0)
    token_model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        token_model.bert.embeddings.position_embeddings.weight.zero_()
        token_model.bert.embeddings.token_type_embeddings.weight.zero_()
        token_model.bert.encoder.layer[0].attention.output.dense.weight.zero_()
        token_model.bert.encoder.layer[0].attention.output.dense.bias.zero_()
        token_model.classifier.weight.mul_(40)  # sharper, more varied labels than a fresh init gives
    head = RelationHead(RelationHeadConfig(hidden_size=config.hidden_size, n_entity_labels=len(SCHEMA.entity_labels)))
    return JointModel(token_model, head).eval(), tok


def test_windows_merge_without_lost_or_doubled_entities(gold_docs):
    model, tok = position_free_model()
    text = gold_docs[3].text[:3000]
    whole = predict_doc(model, tok, Doc("d", text), SCHEMA, ID2LABEL, DecodeSettings(max_length=512, stride=0))
    assert len(whole.entities) > 20
    long_text = text * 3  # longer than one 512-token window
    for max_length, stride in [(64, 16), (128, 32), (256, 64)]:
        one = predict_doc(model, tok, Doc("d", text), SCHEMA, ID2LABEL, DecodeSettings(max_length, stride))
        assert [e.span for e in one.entities] == [e.span for e in whole.entities], (max_length, stride)
    runs = [predict_doc(model, tok, Doc("d", long_text), SCHEMA, ID2LABEL, DecodeSettings(n, s))
            for n, s in [(512, 128), (128, 32), (64, 16)]]
    reference = runs[0]
    assert len(reference.entities) > 3 * len(whole.entities) - 5  # copies may join at their seams
    ref_links = {(r.head, r.tail, r.label) for r in reference.relations}
    by_id = reference.entity_by_id()
    for run, stride in zip(runs[1:], (32, 16)):
        spans = [e.span for e in run.entities]
        assert len(spans) == len(set(spans))
        assert spans == [e.span for e in reference.entities]
        links = [(r.head, r.tail, r.label) for r in run.relations]
        assert len(links) == len(set(links)) and set(links) <= ref_links
        # a pair spanning at most `stride` characters always shares a window, so it is never lost
        near = {k for k in ref_links
                if max(by_id[k[0]].end, by_id[k[1]].end) - min(by_id[k[0]].start, by_id[k[1]].start) <= stride}
        assert near and near <= set(links)


def test_local_directory_base_model_uses_the_hub_code_path(tmp_path):
    """`base_model` as a directory goes through from_pretrained, exactly as a hub id would."""
    from transformers import BertForMaskedLM

    from minzheng_ie.training.train import TrainConfig, build_model

    tok, config = encoder_parts("scratch:tiny")
    BertForMaskedLM(config).save_pretrained(tmp_path / "enc")
    tok.save_pretrained(tmp_path / "enc")
    tokenizer, model = build_model(TrainConfig(data="-", output_dir="-", base_model=str(tmp_path / "enc")), BIO, SCHEMA)
    assert model.token_model.config.num_labels == len(BIO)
    assert tokenizer.is_fast and len(tokenizer) == len(tok)


def test_unreachable_hub_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="(?s)bert-base-chinese.*cannot be loaded.*scratch:small"):
        encoder_parts("bert-base-chinese")
    with pytest.raises(InputError, match="unknown size"):
        encoder_parts("scratch:huge")


def test_incomplete_model_directory_fails_at_start(tmp_path, trained):
    from minzheng_ie.inference.tag import load_tagger

    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="missing model.safetensors, relation_head.safetensors"):
        load_tagger(str(tmp_path))


def test_pretrain_dedups_excludes_holds_out_resumes_and_writes_its_curve(tmp_path):
    from transformers import AutoModelForMaskedLM

    from minzheng_ie.training.pretrain import PretrainConfig, pretrain

    corpus = tmp_path / "corpus.jsonl"
    texts = [f"第{i}批:全市城乡低保标准每人每月{600 + i}元,支出低保资金{i}.22亿元。" * 6 for i in range(30)]
    texts += texts[:5]  # exact duplicates are dropped
    corpus.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts) + "\n", encoding="utf-8")
    manifest = tmp_path / "passages.jsonl"  # a gold passage was cut from record 3: it is left out
    manifest.write_text(json.dumps({"id": "g", "file": "corpus.jsonl", "segments": [{"record": 3}]}) + "\n",
                        encoding="utf-8")
    out = tmp_path / "pt"
    cfg = PretrainConfig(base_model="scratch:tiny", inputs=(str(corpus),), output_dir=str(out), chunk_chars=30,
                         batch_size=8, max_steps=4, warmup_steps=1, masking="whole_word", holdout_every=4,
                         eval_steps=2, save_steps=2, eval_chunks=16, exclude_manifests=(str(manifest),))
    first = pretrain(cfg)
    assert first["duplicates"] == 4 and first["excluded_gold_records"] == 2  # record 3 and its copy, record 33
    assert first["train_documents"] + first["held_out_documents"] == 29 and first["held_out_documents"] > 0
    assert first["steps"] == 4 and (out / "pretrain_curve.png").exists()
    curve = json.loads((out / "pretrain_curve.json").read_text(encoding="utf-8"))
    assert [p["step"] for p in curve["held_out"]] == [0, 2, 4]
    from dataclasses import replace

    again = pretrain(replace(cfg, max_steps=6), resume=True)  # continues from checkpoint-4, not from scratch
    assert again["resumed_from"].endswith("checkpoint-4") and again["steps"] == 6
    assert [p["step"] for p in json.loads((out / "pretrain_curve.json").read_text())["held_out"]] == [0, 2, 4, 6]
    assert AutoModelForMaskedLM.from_pretrained(out).config.num_hidden_layers == 2
    with pytest.raises(InputError, match="no checkpoint"):
        pretrain(replace(cfg, output_dir=str(tmp_path / "fresh")), resume=True)


def test_whole_word_masking_masks_every_character_of_a_chosen_word():
    import torch

    from minzheng_ie.training.pretrain import WordMaskCollator
    from minzheng_ie.training.vocab import character_tokenizer

    tok = character_tokenizer()
    chars = list("城乡低保标准每人每月六百二十元") * 4
    ids = tok(chars, is_split_into_words=True)["input_ids"]
    starts = [1] + [1 if i % 4 == 0 else 0 for i in range(len(chars))] + [1]  # words of four characters
    special = [1] + [0] * len(chars) + [1]
    feature = {"input_ids": ids, "special_tokens_mask": special, "word_starts": starts}
    batch = WordMaskCollator(tok, 0.3, torch.Generator().manual_seed(0))([feature] * 8)
    masked = batch["labels"] != -100
    assert masked.any() and not masked[:, 0].any() and not masked[:, -1].any()
    for row in masked:
        words = row[1:-1].view(-1, 4)
        assert bool(((words.sum(1) == 0) | (words.sum(1) == 4)).all())  # all of a word or none of it
    token_level = WordMaskCollator(tok, 0.3, torch.Generator().manual_seed(0), whole_words=False)([feature] * 8)
    rows = (token_level["labels"] != -100)[:, 1:-1].reshape(8, -1, 4).sum(-1)
    assert bool(((rows > 0) & (rows < 4)).any())  # single characters are masked alone


def test_character_vectors_start_the_embeddings(tmp_path):
    import torch

    from minzheng_ie.training.pretrain import build_mlm_model
    from minzheng_ie.training.vectors import VectorsConfig, read_vectors, train_vectors

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": f"低保标准每人每月{600 + i}元\n临时救助{i}人次"}, ensure_ascii=False)
                                for i in range(200)) + "\n", encoding="utf-8")
    summary = train_vectors(VectorsConfig(inputs=(str(corpus),), output_dir=str(tmp_path / "v"), dim=128,
                                          epochs=1, min_count=1, holdout_every=0, workers=1))
    assert summary["vocabulary"] > 10
    vectors = read_vectors(tmp_path / "v" / "chars.vec")
    tok, model = build_mlm_model("scratch:tiny", str(tmp_path / "v" / "chars.vec"))
    emb = model.get_input_embeddings().weight.detach()
    a, b = tok.convert_tokens_to_ids("低"), tok.convert_tokens_to_ids("保")
    va, vb = torch.tensor(vectors["低"]), torch.tensor(vectors["保"])
    # the rows are the vectors, centred and rescaled: differences between rows keep their direction
    assert float(torch.cosine_similarity(emb[a] - emb[b], va - vb, 0)) > 0.999
    with pytest.raises(InputError, match="hidden size"):
        build_mlm_model("scratch:small", str(tmp_path / "v" / "chars.vec"))


def test_crf_likelihood_matches_brute_force_and_model_round_trips(tmp_path):
    """The forward algorithm equals the sum over every valid path on a short sequence."""
    import itertools

    from minzheng_ie.training.crf import CRF

    torch.manual_seed(1)
    labels = ["O", "B-count", "I-count"]
    crf = CRF(labels)
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    em = torch.randn(1, 4, 3)
    tags = torch.tensor([[0, 1, 2, 0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    trans, start = crf.transition_scores(), crf.start_scores()

    def path_score(p):
        s = start[p[0]] + em[0, 0, p[0]] + crf.end[p[-1]]
        for t in range(1, len(p)):
            s = s + trans[p[t - 1], p[t]] + em[0, t, p[t]]
        return s

    log_z = torch.logsumexp(torch.stack([path_score(p) for p in itertools.product(range(3), repeat=4)]), 0)
    assert torch.allclose(crf.nll(em, tags, mask)[0], log_z - path_score([0, 1, 2, 0]), atol=1e-4)
    # label positions need not be contiguous: -100 positions are skipped
    gappy = torch.tensor([[0, -100, 1, 2, -100, 0]])
    em6 = torch.zeros(1, 6, 3)
    em6[0, [0, 2, 3, 5]] = em[0]
    assert torch.allclose(crf.nll(em6, gappy, gappy != -100), crf.nll(em, tags, mask), atol=1e-5)


def test_a_window_that_begins_inside_an_entity_leaves_it_unlabelled():
    """Windows overlap, so some begin mid-entity; the CRF cannot start a path at I-, so those
    leading tokens carry no label (the window before labels them) and every window's loss is finite."""
    from conftest import make_tokenizer
    from minzheng_ie.training.crf import CRF
    from minzheng_ie.training.data import window_features

    doc = Doc("w", "全市城乡低保对象12345人，发放资金678万元。")
    doc.add(2, 6, "programme")
    doc.add(8, 14, "count")
    doc.add(19, 23, "amount")
    tok = make_tokenizer([doc.text])
    label2id = {lab: i for i, lab in enumerate(BIO)}
    feats = window_features(doc, tok, label2id, SCHEMA, max_length=12, stride=6, negative_ratio=3.0,
                            min_negatives=4, rng=random.Random(0))
    crf = CRF(BIO)
    begins_inside = 0
    for f in feats:
        labels = torch.tensor([f["labels"]])
        first = next(lab for lab in f["labels"] if lab != -100)
        assert not ID2LABEL[first].startswith("I-")
        begins_inside += f["labels"][1] == -100
        assert crf.nll(torch.zeros(1, labels.size(1), len(BIO)), labels, labels != -100).item() < 100
    assert begins_inside  # the case occurred: 10 characters a window, windows sharing 6 of them


def test_parameters_that_start_at_zero_get_their_own_learning_rate():
    from minzheng_ie.training.train import TrainConfig, build_model, optimizer

    cfg = TrainConfig(data="x", output_dir="y", base_model="scratch:tiny", crf=True, rule_hints=True,
                      learning_rate=3e-4, zero_init_learning_rate=5e-3)
    _, model = build_model(cfg, BIO, SCHEMA)
    opt = optimizer(cfg, model)
    rate = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    names = dict(model.named_parameters())
    for n in ("crf.transitions", "crf.start", "hints.emb.weight", "hints.bias.weight"):
        assert rate[id(names[n])] == (5e-3, 0.0), n
    assert rate[id(names["relation_head.mlp.1.weight"])] == (3e-4, 0.01)
    assert rate[id(names["token_model.classifier.bias"])] == (3e-4, 0.0)
    assert len(rate) == sum(p.requires_grad for p in model.parameters())
    same = optimizer(TrainConfig(data="x", output_dir="y", learning_rate=3e-4), model)
    assert {g["lr"] for g in same.param_groups} == {3e-4}
    with pytest.raises(InputError, match="positive"):
        optimizer(TrainConfig(data="x", output_dir="y", zero_init_learning_rate=0.0), model)


def test_crf_model_trains_saves_and_loads(tmp_path):
    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.training.persist import load_model
    from minzheng_ie.training.train import TrainConfig, train

    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp_path / "d.jsonl")
    train(TrainConfig(data=str(tmp_path / "d.jsonl"), dev=str(tmp_path / "d.jsonl"), output_dir=str(tmp_path / "m"),
                      base_model="scratch:tiny", epochs=2, batch_size=4, crf=True, max_length=32, stride=8))
    assert (tmp_path / "m" / "crf.safetensors").exists()
    m1, tok, schema, info, settings = load_model(tmp_path / "m")
    m2, *_ = load_model(tmp_path / "m")
    assert info["crf"] is True and torch.equal(m1.crf.transitions, m2.crf.transitions)
    a = predict_doc(m1, tok, Doc("a", docs[0].text), schema, ID2LABEL, settings)
    b = predict_doc(m2, tok, Doc("a", docs[0].text), schema, ID2LABEL, settings)
    assert a.to_json() == b.to_json()
    assert all(not e.text[0].isspace() for e in a.entities)


def test_segments_cut_after_sentence_ends_and_cover_the_text():
    from minzheng_ie.inference.model_tagger import segments

    text = "低保标准提高。" * 30 + "无标点" * 40
    parts = segments(text, 50)
    assert parts[0][0] == 0 and parts[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))  # contiguous, nothing skipped or doubled
    assert all(b - a <= 50 for a, b in parts)
    assert all(text[b - 1] == "。" for a, b in parts[:4])  # cut after a sentence end where there is one
    assert segments("短文本。", 50) == [(0, 4)]


def test_batched_tagging_equals_one_by_one_and_long_documents_are_segmented(trained):
    from minzheng_ie.inference.model_tagger import ModelTagger

    path, docs, _ = trained
    tagger = ModelTagger(path, segment_chars=40, batch_chars=60)
    texts = [Doc(d.id, d.text) for d in docs] + [Doc("long", "".join(d.text for d in docs))]
    together = tagger.tag_batch(texts)
    alone = [tagger(d) for d in texts]
    assert [d.to_json() for d in together] == [d.to_json() for d in alone]
    long = together[-1]
    assert len({e.id for e in long.entities}) == len(long.entities)  # ids stay unique across segments
    assert all(long.text[e.start:e.end] == e.text for e in long.entities)
    ids = {e.id for e in long.entities}
    assert all(r.head in ids and r.tail in ids for r in long.relations)


def test_onnx_runtime_gives_the_same_entities_and_int8_loads(trained):
    pytest.importorskip("onnxruntime")
    from minzheng_ie.inference.model_tagger import ModelTagger

    path, docs, _ = trained
    texts = [Doc(d.id, d.text) for d in docs]
    ref = ModelTagger(path).tag_batch(texts)
    onnx = ModelTagger(path, runtime="onnx")
    assert onnx.model_version.endswith("+onnx")
    got = onnx.tag_batch(texts)
    assert [[e.span for e in d.entities] for d in got] == [[e.span for e in d.entities] for d in ref]
    int8 = ModelTagger(path, runtime="int8")
    assert len(int8.tag_batch(texts)) == len(texts)
    with pytest.raises(InputError, match="choose torch, onnx or int8"):
        ModelTagger(path, runtime="tensorrt")


def test_cross_validation_scores_a_fixed_model_on_every_fold(trained, tmp_path):
    from conftest import GOLD_EXPORT
    from minzheng_ie.core.cli import main

    path, _, _ = trained
    cfg = tmp_path / "cv.yaml"
    cfg.write_text(f"train_config: configs/train.yaml\ndata: {GOLD_EXPORT}\noutput_dir: {tmp_path / 'out'}\n"
                   f"variants: [{{name: tiny, system: fixed, model: {path}}}]\n", encoding="utf-8")
    assert main(["eval", "cv", "--config", str(cfg)]) == 0
    assert len(list((tmp_path / "out" / "tiny").glob("fold-*/predictions.jsonl"))) == 5
    assert "never trained on gold" in (tmp_path / "out" / "cv.md").read_text(encoding="utf-8")


def test_rule_hint_model_trains_saves_loads_and_tags_alike_on_every_path(tmp_path):
    """rule_hints: the rule tagger's tags are embedded as an input; O stays the zero row, so the
    entity head still loads and runs alone; torch, ONNX and segmented tagging agree."""
    from transformers import AutoModelForTokenClassification

    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.inference.model_tagger import ModelTagger
    from minzheng_ie.training.hints import rule_hinter
    from minzheng_ie.training.persist import load_model
    from minzheng_ie.training.train import TrainConfig, train

    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp_path / "d.jsonl")
    train(TrainConfig(data=str(tmp_path / "d.jsonl"), dev=str(tmp_path / "d.jsonl"), output_dir=str(tmp_path / "m"),
                      base_model="scratch:tiny", epochs=3, batch_size=4, learning_rate=3e-3, rule_hints=True,
                      relation_decoder="rules", max_length=32, stride=8))
    assert (tmp_path / "m" / "hints.safetensors").exists()
    m1, tok, schema, info, settings = load_model(tmp_path / "m")
    m2, *_ = load_model(tmp_path / "m")
    assert info["rule_hints"] is True and torch.equal(m1.hints.emb.weight, m2.hints.emb.weight)
    weight = m1.hints.emb.weight
    assert torch.count_nonzero(weight[0]) == 0 and torch.count_nonzero(weight[1:]) > 0  # O fixed at zero, tags learnt
    hint = rule_hinter()
    text = docs[0].text
    assert hint(Doc("a", text)), "the fixture must give the rules something to hint"
    a = predict_doc(m1, tok, Doc("a", text), schema, ID2LABEL, settings, hints=hint(Doc("a", text)))
    b = predict_doc(m2, tok, Doc("a", text), schema, ID2LABEL, settings, hints=hint(Doc("a", text)))
    assert a.to_json() == b.to_json()
    # the hints reach the encoder: the same window with and without them gives different logits
    from minzheng_ie.training.codec import encode, entity_char_tags

    w = encode(text, tok, max_length=32, stride=8, label2id={v: k for k, v in ID2LABEL.items()},
               hint_tags=entity_char_tags(text, hint(Doc("a", text))))[0]
    ids, mask, hints = (torch.tensor([x]) for x in (w.input_ids, w.attention_mask, w.hints))
    with torch.inference_mode():
        assert not torch.allclose(m1.encode(ids, mask, hints)[0], m1.encode(ids, mask)[0])
        # "no hints" is exactly "all O": the entity head alone computes the same logits
        alone = AutoModelForTokenClassification.from_pretrained(tmp_path / "m").eval()
        assert torch.allclose(alone(input_ids=ids, attention_mask=mask).logits,
                              m1.encode(ids, mask, torch.zeros_like(ids))[0], atol=1e-5)
    texts = [Doc(d.id, d.text) for d in docs] + [Doc("long", "".join(d.text for d in docs))]
    ref = ModelTagger(tmp_path / "m").tag_batch(texts)
    segmented = ModelTagger(tmp_path / "m", segment_chars=40, batch_chars=60).tag_batch(texts)
    assert [d.to_json() for d in segmented[:-1]] == [d.to_json() for d in ref[:-1]]
    # relation_decoder rules: the rule linker over the model's own entities
    from minzheng_ie.annotation.rules.relations import find_relations

    assert settings.linker == "rules"
    for d in ref:
        assert d.relations == find_relations(d.text, d.entities, schema)
    if importlib.util.find_spec("onnxruntime"):
        onnx = ModelTagger(tmp_path / "m", runtime="onnx").tag_batch(texts)
        assert [[e.span for e in d.entities] for d in onnx] == [[e.span for e in d.entities] for d in ref]
    # decode.rule_labels: those labels exactly as the rules tag them, the others the model's where
    # they overlap none of the rules' spans; read from minzheng.json by the tagger
    shutil.copytree(tmp_path / "m", tmp_path / "mixed")
    info_file = tmp_path / "mixed" / "minzheng.json"
    saved = json.loads(info_file.read_text(encoding="utf-8"))
    saved["decode"]["rule_labels"] = ["programme", "region"]
    info_file.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    mixed = ModelTagger(tmp_path / "mixed").tag_batch(texts)
    assert any(e.label == "programme" for d in mixed for e in d.entities)
    for own, mix, d in zip(ref, mixed, texts):
        ruled = [e.span for e in hint(d) if e.label in ("programme", "region")]
        assert [e.span for e in mix.entities if e.label in ("programme", "region")] == ruled
        assert [e.span for e in mix.entities if e.label not in ("programme", "region")] == [
            e.span for e in own.entities if e.label not in ("programme", "region")
            and not any(e.start < b and a < e.end for a, b, _ in ruled)]
        assert [e.id for e in mix.entities] == [f"T{k}" for k in range(1, len(mix.entities) + 1)]  # as the decoder numbers
        assert mix.relations == find_relations(mix.text, mix.entities, schema)


def test_rule_labels_take_those_labels_from_the_rules_and_keep_the_models_others_where_free():
    from minzheng_ie.core.record import Entity
    from minzheng_ie.training.predict import with_rule_labels

    text = "城乡低保资金47.22亿元,上海市保障88.72万人"
    def ent(piece, label, k):
        start = text.index(piece)
        return Entity(start, start + len(piece), label, piece, f"T{k}")
    model = [ent("低保资金", "programme", 1), ent("47.22亿元", "amount", 2), ent("上海", "region", 3),
             ent("市保障88", "count", 4), ent("88.72万人", "count", 5)]
    rules = [ent("城乡低保", "programme", 1), ent("47.22亿元", "amount", 2), ent("上海市", "region", 3)]
    mixed = with_rule_labels(model, rules, ("programme", "region"))
    # the model's programme and region are gone, its count over the rules' 上海市 too; ids from
    # T1, as the decoder numbers entities
    assert [(e.text, e.label, e.id) for e in mixed] == [
        ("城乡低保", "programme", "T1"), ("47.22亿元", "amount", "T2"), ("上海市", "region", "T3"),
        ("88.72万人", "count", "T4")]
    assert with_rule_labels(model, rules, ()) == model


def test_rule_labels_are_checked_against_the_schema_and_need_hints(tmp_path):
    from minzheng_ie.training.train import TrainConfig, train

    with pytest.raises(InputError, match="programm not entity labels"):
        train(TrainConfig(data="x", output_dir=str(tmp_path / "m"), rule_hints=True, rule_labels=("programm",)))
    with pytest.raises(InputError, match="needs rule_hints"):
        train(TrainConfig(data="x", output_dir=str(tmp_path / "m"), rule_labels=("programme",)))
    assert not (tmp_path / "m").exists()


def _lexical_channel_tags_alike(m1, m2, tok, schema, settings, docs, model_dir):
    """Two loads of a model with the bigram channel (bigram vectors or word features) tag alike,
    the channel's ids reach the encoder, and ModelTagger under torch and ONNX tags as predict_doc
    does. Returns the first window's (ids, mask, channel ids) for further checks."""
    from minzheng_ie.inference.model_tagger import ModelTagger
    from minzheng_ie.training.codec import encode

    text = docs[0].text
    a = predict_doc(m1, tok, Doc("a", text), schema, ID2LABEL, settings)
    assert a.to_json() == predict_doc(m2, tok, Doc("a", text), schema, ID2LABEL, settings).to_json()
    w = encode(text, tok, max_length=32, stride=8, bigram_index=m1.bigrams.index)[0]
    ids, mask, channel = torch.tensor([w.input_ids]), torch.tensor([w.attention_mask]), torch.tensor([w.bigrams])
    with torch.inference_mode():  # the channel reaches the encoder
        assert not torch.allclose(m1.encode(ids, mask, None, channel)[0], m1.encode(ids, mask)[0])
    texts = [Doc(d.id, d.text) for d in docs]
    ref = ModelTagger(model_dir).tag_batch(texts)
    assert [[e.span for e in d.entities] for d in ref] == [
        [e.span for e in predict_doc(m1, tok, d, schema, ID2LABEL, settings).entities] for d in texts]
    if importlib.util.find_spec("onnxruntime"):
        onnx = ModelTagger(model_dir, runtime="onnx").tag_batch(texts)
        assert [[e.span for e in d.entities] for d in onnx] == [[e.span for e in d.entities] for d in ref]
    return ids, mask, channel


def test_bigram_vector_model_trains_saves_loads_and_tags_alike_on_every_path(tmp_path):
    """bigram_vectors: word2vec bigram vectors (mzie vectors, unit: bigram) are a frozen input;
    the table survives training and saving (in float16) unchanged, the projection is learnt,
    and torch, ONNX and a reload tag alike."""
    pytest.importorskip("gensim")
    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.training.persist import load_model
    from minzheng_ie.training.train import TrainConfig, bigram_embedding, train
    from minzheng_ie.training.vectors import VectorsConfig, read_vectors, train_vectors

    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": d.text}, ensure_ascii=False) for d in docs * 20) + "\n",
                      encoding="utf-8")
    summary = train_vectors(VectorsConfig(inputs=(str(corpus),), output_dir=str(tmp_path / "v"), unit="bigram",
                                          dim=8, epochs=1, min_count=1, holdout_every=0, workers=1))
    vec_file = tmp_path / "v" / "bigrams.vec"
    vectors = read_vectors(vec_file)
    assert summary["unit"] == "bigram" and len(vectors) == summary["vocabulary"] > 20
    assert all(len(b) == 2 and not any(c.isspace() for c in b) for b in vectors) and "低保" in vectors
    write_jsonl(docs, tmp_path / "d.jsonl")
    train(TrainConfig(data=str(tmp_path / "d.jsonl"), dev=str(tmp_path / "d.jsonl"), output_dir=str(tmp_path / "m"),
                      base_model="scratch:tiny", epochs=3, batch_size=4, learning_rate=3e-3, max_length=32, stride=8,
                      bigram_vectors=str(vec_file)))
    m1, tok, schema, info, settings = load_model(tmp_path / "m")
    m2, *_ = load_model(tmp_path / "m")
    assert info["bigrams"] == {"vocabulary": len(vectors), "dim": 8, "kind": "bigram"}
    k = m1.bigrams.index["低保"]
    assert torch.allclose(m1.bigrams.table.weight[k], torch.tensor(vectors["低保"]).half().float())  # frozen
    assert torch.count_nonzero(m1.bigrams.table.weight[0]) == 0 and torch.count_nonzero(m1.bigrams.proj.weight) > 0
    assert torch.equal(m1.bigrams.proj.weight, m2.bigrams.proj.weight)
    ids, mask, bigrams = _lexical_channel_tags_alike(m1, m2, tok, schema, settings, docs, tmp_path / "m")
    if importlib.util.find_spec("onnxruntime"):
        from minzheng_ie.inference.model_tagger import onnx_encoder

        graph = onnx_encoder(m1.eval())
        assert not m1.training  # exporting leaves the model as it found it
        with torch.inference_mode():  # no bigrams given: both runtimes read id 0 everywhere
            assert torch.count_nonzero(m1.bigrams.proj.bias) > 0  # so "nothing" and "id 0" would differ
            assert torch.allclose(graph(ids, mask)[0], m1.encode(ids, mask)[0], atol=1e-4)
            assert torch.allclose(graph(ids, mask, None, bigrams)[0], m1.encode(ids, mask, None, bigrams)[0], atol=1e-4)
    with pytest.raises(InputError, match="two-character bigrams"):  # character vectors given by mistake
        train_vectors(VectorsConfig(inputs=(str(corpus),), output_dir=str(tmp_path / "c"), dim=8, epochs=1,
                                    min_count=1, holdout_every=0, workers=1))
        bigram_embedding(str(tmp_path / "c" / "chars.vec"), 16)
    with pytest.raises(InputError, match="unit"):
        train_vectors(VectorsConfig(inputs=(str(corpus),), output_dir=str(tmp_path / "x"), unit="word"))
    (tmp_path / "m" / "bigrams.json").unlink()
    with pytest.raises(InputError, match="bigrams.json is missing"):
        load_model(tmp_path / "m")


def test_word_feature_model_trains_saves_loads_and_tags_alike_on_every_path(tmp_path):
    """word_features: jieba word features ride the bigram channel with fixed codes; the model
    saves and loads as kind "words", and torch, ONNX and a reload tag alike."""
    pytest.importorskip("jieba")
    from dataclasses import replace

    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.training.codec import WORD_FEATURES
    from minzheng_ie.training.persist import load_model
    from minzheng_ie.training.train import TrainConfig, check_train_config, train

    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp_path / "d.jsonl")
    cfg = TrainConfig(data=str(tmp_path / "d.jsonl"), dev=str(tmp_path / "d.jsonl"), output_dir=str(tmp_path / "m"),
                      base_model="scratch:tiny", epochs=3, batch_size=4, learning_rate=3e-3, max_length=32, stride=8,
                      word_features=True)
    train(cfg)
    m1, tok, schema, info, settings = load_model(tmp_path / "m")
    m2, *_ = load_model(tmp_path / "m")
    assert info["bigrams"] == {"vocabulary": len(WORD_FEATURES), "dim": 64, "kind": "words"}
    assert m1.bigrams.kind == "words" and m1.bigrams.index.kind == "words"
    assert torch.equal(m1.bigrams.table.weight, m2.bigrams.table.weight)  # the codes survive float16 storage
    assert torch.count_nonzero(m1.bigrams.proj.weight) > 0
    _lexical_channel_tags_alike(m1, m2, tok, schema, settings, docs, tmp_path / "m")
    with pytest.raises(InputError, match="share one input channel"):
        check_train_config(replace(cfg, bigram_vectors="bigrams.vec"))


def test_train_engine_options_are_checked_before_anything_runs(tmp_path, capsys):
    from minzheng_ie.core.cli import main

    config = tmp_path / "train.yaml"
    config.write_text(f"data: {tmp_path / 'none.jsonl'}\noutput_dir: {tmp_path / 'model'}\nbatch_size: 4\n",
                      encoding="utf-8")
    assert main(["-q", "train", "--config", str(config), "--workers", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err
    if importlib.util.find_spec("ray") is not None:  # the batch check comes before Ray starts
        assert main(["-q", "train", "--config", str(config), "--engine", "ray", "--workers", "3"]) == 2
        assert "multiple of --workers" in capsys.readouterr().err
        # so do the options that do not go together, which the workers would only meet later
        assert main(["-q", "train", "--config", str(config), "--engine", "ray", "--workers", "2",
                     "--set", "rule_labels=[programme]"]) == 2
        assert "rule_labels needs rule_hints" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()
