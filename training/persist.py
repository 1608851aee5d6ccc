"""A model directory: everything needed to load, audit and reproduce a trained model.

    config.json, model.safetensors   the entity head (AutoModelForTokenClassification loads it alone)
    tokenizer.json, …                the tokenizer
    relation_head.safetensors        the relation head's weights
    crf.safetensors                  the CRF's transition scores (only for models trained with crf: true)
    hints.safetensors                the rule-hint embedding (only for models trained with rule_hints: true)
    bigrams.safetensors, bigrams.json
                                     the bigram vectors (float16) and projection, and the bigram list
                                     (only for models trained with bigram_vectors)
    (weights stored in float32, or float16 with save_dtype; loading gives float32 either way)
    minzheng.json                    format version, label maps, relation-head config, decode
                                     settings, resolved training config, data, metrics, git hash
    schema.yaml                      the label schema the model was trained with
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.schema import Schema, config_path, load_schema

from .model import BigramEmbedding, HintEmbedding, JointModel, RelationHead, RelationHeadConfig
from .predict import DecodeSettings
from .report import write_json

FORMAT = 1
REQUIRED = ("config.json", "model.safetensors", "relation_head.safetensors", "minzheng.json", "schema.yaml")


def save_model(out: Path, model: JointModel, tokenizer, info: dict, schema_file: Path | None = None,
               dtype: str = "float32") -> None:
    """Write the model folder; `dtype` is how floating-point weights are stored (float16 halves the
    folder). The model in memory is left as it is."""
    import copy

    import torch
    from safetensors.torch import save_file

    store = getattr(torch, dtype)

    def stored(module) -> dict:
        return {k: (v.to(store) if v.is_floating_point() else v).contiguous() for k, v in module.state_dict().items()}

    out.mkdir(parents=True, exist_ok=True)
    token_model = model.token_model if store == torch.float32 else copy.deepcopy(model.token_model).to(store)
    token_model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_file(stored(model.relation_head), str(out / "relation_head.safetensors"))
    if model.crf is not None:
        save_file(stored(model.crf), str(out / "crf.safetensors"))
    if model.hints is not None:
        save_file(stored(model.hints), str(out / "hints.safetensors"))
    bigrams = None
    if model.bigrams is not None:
        # the frozen table in float16 (halves 60k × 64 × 4 bytes = 15 MB); the projection as trained
        save_file({"table.weight": model.bigrams.table.weight.detach().half().contiguous(),
                   **{f"proj.{k}": v.contiguous() for k, v in model.bigrams.proj.state_dict().items()}},
                  str(out / "bigrams.safetensors"))
        write_json(out / "bigrams.json", model.bigrams.vocab)
        bigrams = {"vocabulary": len(model.bigrams.vocab), "dim": model.bigrams.table.embedding_dim,
                   "kind": model.bigrams.kind}
    shutil.copyfile(schema_file or config_path("schema.yaml"), out / "schema.yaml")
    write_json(out / "minzheng.json", {"format": FORMAT, "relation_head": model.relation_head.cfg.to_dict(),
                                       "relation_weight": model.relation_weight, "crf": model.crf is not None,
                                       "rule_hints": model.hints is not None, "bigrams": bigrams, **info})


def check_model_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"--model {path}: no such model directory; give a folder written by `mzie train`, or 'rules'")
    missing = [f for f in REQUIRED if not (p / f).exists()]
    if missing:
        raise InputError(f"--model {path}: not a complete minzheng-ie model, missing {', '.join(missing)}; "
                         f"retrain it with `mzie train` or copy the whole folder")
    info = json.loads((p / "minzheng.json").read_text(encoding="utf-8"))
    if info.get("format") != FORMAT:
        raise InputError(f"--model {path}: model format {info.get('format')} is not supported by this version "
                         f"(expects {FORMAT}); retrain it with this version's `mzie train`")
    return p


def load_model(path: str | Path) -> tuple[JointModel, object, Schema, dict, DecodeSettings]:
    from safetensors.torch import load_file
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    p = check_model_dir(path)
    info = json.loads((p / "minzheng.json").read_text(encoding="utf-8"))
    schema = load_schema(str(p / "schema.yaml"))
    import torch

    # float32 whatever the folder stores (save_dtype): the heads' load_state_dict casts the same way
    token_model = AutoModelForTokenClassification.from_pretrained(p, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(p)
    head = RelationHead(RelationHeadConfig(**info["relation_head"]))
    head.load_state_dict(load_file(str(p / "relation_head.safetensors")))
    crf = None
    if info.get("crf"):
        from .crf import CRF

        if not (p / "crf.safetensors").exists():
            raise InputError(f"--model {path}: minzheng.json says the model has a CRF but crf.safetensors is missing")
        crf = CRF(info["bio_labels"])
        crf.load_state_dict(load_file(str(p / "crf.safetensors")))
    hints = None
    if info.get("rule_hints"):
        if not (p / "hints.safetensors").exists():
            raise InputError(f"--model {path}: minzheng.json says the model reads rule hints but hints.safetensors "
                             f"is missing; copy the whole model folder")
        hints = HintEmbedding(len(info["bio_labels"]), token_model.config.hidden_size)
        hints.load_state_dict(load_file(str(p / "hints.safetensors")))
    bigrams = None
    if info.get("bigrams"):
        missing = [f for f in ("bigrams.safetensors", "bigrams.json") if not (p / f).exists()]
        if missing:
            raise InputError(f"--model {path}: minzheng.json says the model reads bigram vectors but "
                             f"{', '.join(missing)} is missing; copy the whole model folder")
        vocab = json.loads((p / "bigrams.json").read_text(encoding="utf-8"))
        state = load_file(str(p / "bigrams.safetensors"))
        bigrams = BigramEmbedding(vocab, info["bigrams"]["dim"], token_model.config.hidden_size,
                                  kind=info["bigrams"].get("kind", "bigram"))
        bigrams.table.weight.copy_(state.pop("table.weight").float())
        bigrams.proj.load_state_dict({k.removeprefix("proj."): v for k, v in state.items()})
    model = JointModel(token_model, head, info.get("relation_weight", 1.0), crf, hints, bigrams)
    model.eval()
    return model, tokenizer, schema, info, DecodeSettings(**info.get("decode", {}))
