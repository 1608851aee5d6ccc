"""`mzie train`: a Label Studio export (or records JSONL) → a model directory.

Seeded and repeatable; evaluates end-to-end on the dev documents after every epoch
(entity micro-F1, strict spans; relation F1 breaks ties), keeps the best weights in memory, stops after
`patience` evaluations without improvement, and saves the best model with its curves.
"""
from __future__ import annotations

import copy
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from minzheng_ie.core.config import to_dict
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc

from .silver import SilverConfig, silver_docs

log = logging.getLogger(__name__)


SAVE_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class TrainConfig:
    data: str  # Label Studio export or records JSONL: the training documents
    output_dir: str
    base_model: str = "scratch:small"  # scratch:<size>, a hub id, or a local directory
    dev: str | None = None  # dev documents; without it, dev_fraction of `data` by document
    dev_fraction: float = 0.2
    train_fraction: float = 1.0  # a seeded share of the training documents, for learning curves
    max_length: int = 256
    stride: int = 64  # tokens shared by consecutive training windows
    decode_stride: int | None = None  # the same when the saved model tags (None: `stride`); bench/OVERLAP.md
    epochs: int = 60
    batch_size: int = 8
    learning_rate: float = 5e-4
    # the CRF's transition scores and the hint embedding and bias are learnt from zero: Adam moves a
    # parameter by about the learning rate a step, so at 3e-4 over ~700 full-rate steps (1,400
    # steps, linear decay) they cannot pass ~0.2 and the CRF stays flat. None: learning_rate.
    zero_init_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    relation_weight: float = 1.0
    negative_ratio: float = 3.0
    min_negatives: int = 4
    patience: int = 8
    relation_threshold: float = 0.5
    relation_decoder: str = "head"  # how the saved model links entities: "head", or "rules" (the rule linker)
    # entity labels the saved model takes from its rule hints instead of its entity head (needs
    # rule_hints); dev scores, and so the best epoch, are measured that way too
    rule_labels: tuple[str, ...] = ()
    crf: bool = False  # a CRF over the token logits instead of per-token cross-entropy
    traditional_copies: bool = False  # also train on OpenCC traditional-script copies of the gold documents
    rule_hints: bool = False  # the rule tagger's tags as an input (model.HintEmbedding)
    hint_dropout: float = 0.2  # share of training windows shown without hints
    hint_prior: float = 6.0  # initial logit bias towards the hinted tag (training starts from the rules)
    # ≥ 2: each train document's hints come from rules whose learnt part was learnt from the other
    # folds (training/hints.py), as on a new report; 0: the rules as committed, for every document
    hint_folds: int = 0
    bigram_vectors: str | None = None  # word2vec bigram vectors (mzie vectors, unit: bigram) as an input
    # jieba word position and part of speech of every character as an input (codec.word_features),
    # on the bigram channel: one or the other
    word_features: bool = False
    seed: int = 13
    bf16: bool = False  # bfloat16 autocast for the training steps (dev scoring stays fp32)
    # how the saved weights are stored: float16 halves the folder (and its git weight); loading always
    # casts back to float32, so only the stored values are rounded (models/minzheng-small: the same
    # 784 dev entities either way)
    save_dtype: str = "float32"
    silver: SilverConfig = field(default_factory=SilverConfig)


def check_train_config(cfg: TrainConfig, schema=None) -> None:
    """The checks that need no data, so a bad combination fails before anything loads or trains
    (`mzie eval cv` runs them for every variant before its first fold)."""
    from minzheng_ie.core.schema import load_schema

    schema = schema or load_schema()
    unknown = sorted(set(cfg.rule_labels) - set(schema.entity_labels))
    if unknown:
        raise InputError(f"rule_labels: {', '.join(unknown)} not entity labels of the schema "
                         f"({', '.join(schema.entity_labels)}); name those to take from the rule tagger")
    if cfg.save_dtype not in SAVE_DTYPES:
        raise InputError(f"save_dtype: {cfg.save_dtype!r}; give one of {', '.join(SAVE_DTYPES)}")
    if cfg.rule_labels and not cfg.rule_hints:
        raise InputError("rule_labels needs rule_hints: true (the rule tagger's entities are the hints); "
                         "set rule_hints=true or rule_labels=[]")
    if cfg.word_features and cfg.bigram_vectors:
        raise InputError("word_features and bigram_vectors share one input channel; set one of them")
    if cfg.word_features:
        from .codec import load_jieba

        load_jieba("word_features: true")  # present before anything trains


def seeded_share(docs: list[Doc], share: float, seed: int) -> set[str]:
    """The ids of a seeded share of `docs` (at least one), whole documents: the same seed gives
    nested sets, so a 25% share is inside the 50% one."""
    import random

    ids = sorted(d.id for d in docs)
    random.Random(seed).shuffle(ids)
    return set(ids[:max(1, round(share * len(ids)))])


def split_train_dev(cfg: TrainConfig, docs: list[Doc]) -> tuple[list[Doc], list[Doc]]:
    """Dev documents from `dev`, or a seeded `dev_fraction` of the documents (at least one)."""
    from minzheng_ie.annotation.convert import load_docs

    if cfg.dev:
        return docs, load_docs(cfg.dev)
    dev_ids = seeded_share(docs, cfg.dev_fraction, cfg.seed) if len(docs) > 1 else set()
    train, dev = [d for d in docs if d.id not in dev_ids], [d for d in docs if d.id in dev_ids]
    if not train or not dev:
        raise InputError(f"{cfg.data}: {len(docs)} document(s) cannot be split into train and dev; "
                         f"give more documents or a separate dev set (dev: PATH)")
    return train, dev


def build_model(cfg: TrainConfig, bio: list[str], schema):
    from transformers import AutoModelForTokenClassification, BertForTokenClassification

    from .encoders import encoder_parts, is_scratch
    from .model import BigramEmbedding, HintEmbedding, JointModel, RelationHead, RelationHeadConfig

    tokenizer, config = encoder_parts(cfg.base_model)
    id2label = dict(enumerate(bio))
    label2id = {v: k for k, v in id2label.items()}
    if is_scratch(cfg.base_model):
        config.num_labels, config.id2label, config.label2id = len(bio), id2label, label2id
        token_model = BertForTokenClassification(config)
    else:
        import torch

        # float32 whatever the checkpoint stores: the shipped encoder is kept in float16 to halve its size
        token_model = AutoModelForTokenClassification.from_pretrained(
            cfg.base_model, num_labels=len(bio), id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True,
            dtype=torch.float32)
    head = RelationHead(RelationHeadConfig(hidden_size=token_model.config.hidden_size,
                                           n_entity_labels=len(schema.entity_labels)))
    crf = None
    if cfg.crf:
        from .crf import CRF

        crf = CRF(bio)
    hints = None
    if cfg.rule_hints:
        hints = HintEmbedding(len(bio), token_model.config.hidden_size, cfg.hint_dropout, cfg.hint_prior)
    bigrams = None
    if cfg.bigram_vectors:
        bigrams = bigram_embedding(cfg.bigram_vectors, token_model.config.hidden_size)
    elif cfg.word_features:
        bigrams = word_feature_embedding(token_model.config.hidden_size, cfg.seed)
    return tokenizer, JointModel(token_model, head, cfg.relation_weight, crf, hints, bigrams)


WORD_CODE_DIM = 64


def word_feature_embedding(hidden_size: int, seed: int):
    """model.BigramEmbedding of kind "words": each of the 28 word features gets a fixed random code
    (64 values of standard deviation 1/8: length about 1; codes of length 8 made the training loss
    jump in a trial), rounded to float16 so that saving stores it exactly, and the trained
    projection turns the codes of a character and of the one before it into an input embedding.
    28 codes in 64 dimensions are linearly independent, so the projection can give each feature
    any embedding it needs."""
    import torch

    from .codec import WORD_FEATURES
    from .model import BigramEmbedding

    g = torch.Generator().manual_seed(seed)
    codes = (torch.randn(len(WORD_FEATURES), WORD_CODE_DIM, generator=g) / 8).half().float()
    return BigramEmbedding(list(WORD_FEATURES), WORD_CODE_DIM, hidden_size, codes, kind="words")


def bigram_embedding(path: str, hidden_size: int):
    """model.BigramEmbedding from a word2vec file of bigrams (`mzie vectors`, unit: bigram)."""
    import numpy as np
    import torch

    from .model import BigramEmbedding
    from .vectors import read_vectors

    vectors = read_vectors(path, "bigram_vectors")
    bad = [k for k in vectors if len(k) != 2]
    if not vectors or bad:
        raise InputError(f"bigram_vectors {path}: expected two-character bigrams, found "
                         f"{bad[0] if bad else 'none'!r}; write the file with mzie vectors and unit: bigram")
    vocab = list(vectors)
    table = torch.from_numpy(np.stack([vectors[b] for b in vocab]))
    return BigramEmbedding(vocab, table.size(1), hidden_size, table)


def optimizer(cfg: TrainConfig, model):
    """AdamW with two learning rates: the encoder and its heads at `learning_rate`; the parameters
    that start at zero (model.JointModel.FROM_ZERO: CRF scores, hint embedding and bias) at
    `zero_init_learning_rate`, without weight decay, which would pull them back to zero. Trainer's
    scheduler (warm-up, linear decay) scales every group alike."""
    import torch

    zero_lr = cfg.learning_rate if cfg.zero_init_learning_rate is None else cfg.zero_init_learning_rate
    if zero_lr <= 0 or cfg.learning_rate <= 0:
        raise InputError(f"learning_rate {cfg.learning_rate}, zero_init_learning_rate {cfg.zero_init_learning_rate}: "
                         f"give positive rates (or zero_init_learning_rate: null for the same rate)")
    groups: dict[str, list] = {"decay": [], "no_decay": [], "from_zero": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith(model.FROM_ZERO):
            groups["from_zero"].append(p)
        elif p.ndim < 2:  # biases and LayerNorm scales and shifts: no decay (Trainer's default rule)
            groups["no_decay"].append(p)
        else:
            groups["decay"].append(p)
    return torch.optim.AdamW([
        {"params": groups["decay"], "lr": cfg.learning_rate, "weight_decay": cfg.weight_decay},
        {"params": groups["no_decay"], "lr": cfg.learning_rate, "weight_decay": 0.0},
        {"params": groups["from_zero"], "lr": zero_lr, "weight_decay": 0.0},
    ], lr=cfg.learning_rate)


def per_worker_batch(cfg: TrainConfig, workers: int) -> int:
    """Windows per step on each of `workers` data-parallel workers, so that a step sees batch_size."""
    if cfg.batch_size % workers:
        raise InputError(f"batch_size {cfg.batch_size} does not split evenly over {workers} workers; give a "
                         f"batch_size that is a multiple of --workers (--set batch_size=N)")
    return cfg.batch_size // workers


def train(cfg: TrainConfig, progress: bool = False) -> dict:
    """Train in this process and save the model in cfg.output_dir; the saved info."""
    out = Path(cfg.output_dir)
    model, tokenizer, info = fit(cfg, out / "checkpoints", progress)
    write_model(out, model, tokenizer, info)
    return info


def fit(cfg: TrainConfig, scratch: Path, progress: bool = False, distributed: bool = False):
    """The recipe: (best model, tokenizer, info). `scratch` is Trainer's own folder (nothing is
    checkpointed there; it is removed at the end).

    distributed: this process is one of several data-parallel workers whose torch process group
    is already set up (Ray Train does that: training/distributed.py). Each takes batch_size /
    workers windows a step, so a step still sees batch_size windows and the schedule is the local
    one; the first worker scores the dev documents after each epoch and tells the others, so all
    of them stop together."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from minzheng_ie.annotation.convert import load_docs
    from minzheng_ie.core.schema import load_schema
    from minzheng_ie.eval.spans import score

    from .codec import bio_labels
    from .data import build_dataset, collate
    from .hints import rule_hinter
    from .predict import DecodeSettings, predict_doc
    from .report import git_hash

    set_seed(cfg.seed)  # the same seed on every worker: the same initial weights and windows
    rank, workers = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if distributed else (0, 1)
    per_worker = per_worker_batch(cfg, workers)
    schema = load_schema()
    check_train_config(cfg, schema)
    docs = load_docs(cfg.data)
    train_docs, dev_docs = split_train_dev(cfg, docs)
    if not 0 < cfg.train_fraction <= 1:
        raise InputError(f"train_fraction: {cfg.train_fraction}; give a share in (0, 1]")
    if cfg.train_fraction < 1:  # whole documents, seeded: the 25% set is inside the 50% set
        keep = seeded_share(train_docs, cfg.train_fraction, cfg.seed)
        train_docs = [d for d in train_docs if d.id in keep]
    silver = silver_docs(cfg.silver)
    bio = bio_labels(schema.entity_labels)
    tokenizer, model = build_model(cfg, bio, schema)
    label2id = {lab: i for i, lab in enumerate(bio)}
    id2label = dict(enumerate(bio))
    if cfg.hint_folds == 1 or cfg.hint_folds < 0:
        raise InputError(f"hint_folds: {cfg.hint_folds}; give 0 (no jackknife) or a number of folds ≥ 2, e.g. 5")
    # folds are dealt before the traditional copies exist: a copy is hinted with its original's fold
    hinter = rule_hinter(cache=True, jackknife=train_docs, folds=cfg.hint_folds, seed=cfg.seed) \
        if cfg.rule_hints else None
    if cfg.traditional_copies:
        from minzheng_ie.annotation.rules.script import traditional_copy

        train_docs = train_docs + [traditional_copy(d) for d in train_docs]
    weighted = [(d, 1.0) for d in train_docs] + [(d, cfg.silver.weight) for d in silver]
    dataset = build_dataset(weighted, tokenizer, label2id, schema, max_length=cfg.max_length, stride=cfg.stride,
                            negative_ratio=cfg.negative_ratio, min_negatives=cfg.min_negatives, seed=cfg.seed,
                            hinter=hinter, bigram_index=model.bigrams.index if model.bigrams is not None else None)
    if cfg.relation_decoder not in ("head", "rules"):
        raise InputError(f"relation_decoder: {cfg.relation_decoder!r}; use head or rules")
    decode_stride = cfg.stride if cfg.decode_stride is None else cfg.decode_stride
    settings = DecodeSettings(cfg.max_length, decode_stride, 16, cfg.relation_threshold, linker=cfg.relation_decoder,
                              rule_labels=tuple(cfg.rule_labels))
    if rank == 0:
        log.info("training on %d gold + %d silver documents (%d windows), dev %d documents",
                 len(train_docs), len(silver), len(dataset), len(dev_docs))

    def dev_scores() -> dict:
        preds = [predict_doc(model, tokenizer, Doc(d.id, d.text), schema, id2label, settings,
                             hints=hinter(d) if hinter else None) for d in dev_docs]
        m = score(dev_docs, preds, schema.entity_labels, schema.relation_labels)
        return {"eval_entity_f1": m["entities"]["micro"]["f1"], "eval_relation_f1": m["relations"]["micro"]["f1"],
                "eval_entity_precision": m["entities"]["micro"]["precision"],
                "eval_entity_recall": m["entities"]["micro"]["recall"]}


    def shared(metrics: dict | None) -> dict:
        """The first worker's dev scores, on every worker."""
        if not distributed:
            return metrics
        box = [metrics]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    history: list[dict] = []  # one row per epoch: dev scores, and the epoch's train loss once logged
    best = {"key": (-1.0, -1.0), "state": None, "epoch": 0, "metrics": {}}

    class DevEvaluation(TrainerCallback):
        """After every epoch: end-to-end dev scores; keep the best weights; stop when patience runs out."""

        def on_log(self, args, state, control, logs=None, **kw):
            # with logging per epoch, the epoch's mean loss arrives after on_epoch_end
            if logs and "loss" in logs and history:
                history[-1]["train_loss"] = logs["loss"]

        def on_epoch_end(self, args, state, control, **kw):
            metrics = shared(dev_scores() if rank == 0 else None)
            model.train()
            epoch = round(state.epoch or 0)
            history.append({"epoch": epoch, "train_loss": None, **metrics})
            if rank == 0:  # the others heard the same scores
                log.info("epoch %d: dev entity F1 %.4f, relation F1 %.4f", epoch, metrics["eval_entity_f1"],
                         metrics["eval_relation_f1"])
            # entity F1 decides; relation F1 breaks ties (a rule-hinted model's entity F1 can stay
            # flat for epochs while its relation head is still learning)
            key = (metrics["eval_entity_f1"], metrics["eval_relation_f1"])
            if key > best["key"]:
                best.update(key=key, epoch=epoch, metrics=metrics,
                            state=copy.deepcopy(model.state_dict()) if rank == 0 else None)
            elif epoch - best["epoch"] >= cfg.patience:
                if rank == 0:
                    log.info("no dev improvement for %d epochs: stopping", cfg.patience)
                control.should_training_stop = True

    total_steps = math.ceil(len(dataset) / cfg.batch_size) * cfg.epochs
    args = TrainingArguments(
        output_dir=str(scratch), num_train_epochs=cfg.epochs, per_device_train_batch_size=per_worker,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * total_steps),
        logging_strategy="epoch", save_strategy="no", eval_strategy="no", report_to=[],
        use_cpu=not torch.cuda.is_available(), seed=cfg.seed, data_seed=cfg.seed, dataloader_num_workers=0,
        remove_unused_columns=False, disable_tqdm=not progress, bf16=cfg.bf16,
        # a batch without relation candidates leaves the relation head out of the loss; DDP must allow that
        ddp_find_unused_parameters=True if distributed else None,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate(tokenizer.pad_token_id),
                      callbacks=[DevEvaluation()], optimizers=(optimizer(cfg, model), None))
    started = time.monotonic()
    trainer.train()
    minutes = (time.monotonic() - started) / 60
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    info = {
        "entity_labels": list(schema.entity_labels), "relation_labels": list(schema.relation_labels),
        "bio_labels": bio, "decode": settings.__dict__, "train_config": to_dict(cfg), "git": git_hash(),
        "data": {"train": [d.id for d in train_docs], "dev": [d.id for d in dev_docs], "silver_documents": len(silver),
                 "windows": len(dataset)},
        "best_epoch": best["epoch"], "dev_metrics": best["metrics"], "history": history,
        "training_minutes": round(minutes, 2),
    }
    if distributed:
        info["distributed"] = {"engine": "ray", "workers": workers, "per_worker_batch_size": per_worker}
    tokenizer.model_max_length = cfg.max_length  # the window the model was trained on; pipelines chunk by it
    shutil.rmtree(scratch, ignore_errors=True)  # Trainer's scratch folder; nothing is checkpointed
    return model, tokenizer, info


def write_model(out: Path, model, tokenizer, info: dict) -> None:
    """The model folder (persist.py) and its training curve."""
    from .persist import save_model
    from .report import plot_curves

    save_model(out, model, tokenizer, info, dtype=info["train_config"].get("save_dtype", "float32"))
    history = info["history"]
    plot_curves(out / "training_curve.png",
                {"train loss": [(h["epoch"], h["train_loss"]) for h in history if h["train_loss"] is not None],
                 "dev entity F1": [(h["epoch"], h["eval_entity_f1"]) for h in history],
                 "dev relation F1": [(h["epoch"], h["eval_relation_f1"]) for h in history]},
                "epoch", "loss / F1", f"Training {out.name}")
