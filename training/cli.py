"""`mzie pretrain` and `mzie train`."""
from __future__ import annotations

import argparse
from pathlib import Path


def _with_config(sub: argparse._SubParsersAction, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand that reads a YAML config with dotted overrides."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--config", required=True, help=f"YAML config, e.g. {example}")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (dotted)")
    return p


def register(sub: argparse._SubParsersAction) -> None:
    p = _with_config(sub, "pretrain", "masked-language-model pretraining on unlabeled text (.txt/.jsonl[.gz])",
                     "configs/pretrain.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    p.set_defaults(func=cmd_pretrain)

    e = _with_config(sub, "pretrain-score", "held-out masked-character accuracy of encoders, side by side",
                     "configs/pretrain.yaml")
    e.add_argument("--model", action="append", default=[], required=True, metavar="DIR",
                   help="an encoder folder (repeat to compare; all of one vocabulary)")
    e.add_argument("-o", "--out", metavar="FILE.json", help="also write the scores as JSON")
    e.set_defaults(func=cmd_pretrain_score)

    k = _with_config(sub, "pretrain-pack", "pack the pretraining corpus into one .npz for `mzie pretrain-packed`",
                     "configs/pretrain-gpu.yaml")
    k.set_defaults(func=cmd_pretrain_pack)

    g = _with_config(sub, "pretrain-packed", "masked-language-model pretraining from a pack, the loop on the GPU",
                     "configs/pretrain-gpu.yaml")
    g.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint")
    g.set_defaults(func=cmd_pretrain_packed)

    v = _with_config(sub, "vectors", "word2vec character vectors from unlabeled text (to start an encoder's embeddings)",
                     "configs/vectors.yaml")
    v.set_defaults(func=cmd_vectors)

    t = _with_config(sub, "train", "train the entity tagger + relation head from a Label Studio export or JSONL",
                     "configs/train.yaml")
    t.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (this process, default) or ray (the same recipe data-parallel on Ray Train "
                        "workers, one CPU each; the same model folder; needs the ray extra)")
    t.add_argument("--workers", type=int, metavar="N",
                   help="--engine ray: data-parallel workers (default 2); batch_size must be a multiple of N")
    t.add_argument("--address", metavar="ADDR",
                   help="--engine ray: join a running Ray cluster from one of its machines ('auto' or "
                        "HOST:6379; Ray Client, ray://, is refused) instead of starting Ray on this machine")
    t.set_defaults(func=cmd_train)

    s = _with_config(sub, "silver", "rule-labelled silver records from unlabeled text, for an intermediate training stage",
                     "configs/silver.yaml")
    s.add_argument("-o", "--out", required=True, help="records JSONL to write")
    s.set_defaults(func=cmd_silver)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import json

    from minzheng_ie.core.config import load_config

    from .pretrain import PretrainConfig, pretrain

    cfg = load_config(PretrainConfig, args.config, args.set)
    summary = pretrain(cfg, callbacks=[] if not args.quiet else None, resume=args.resume)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, ensure_ascii=False, indent=2))
    return 0


def cmd_pretrain_score(args: argparse.Namespace) -> int:
    from minzheng_ie.core.config import load_config

    from .pretrain import PretrainConfig, score_encoders
    from .report import write_json

    cfg = load_config(PretrainConfig, args.config, args.set)
    rows = score_encoders(cfg, args.model)
    if args.out:
        write_json(Path(args.out), {"config": args.config, "overrides": args.set, "scores": rows})
    print(f"held out: {rows[0]['documents']} documents, {rows[0]['chunks']} chunks of {cfg.chunk_chars} characters, "
          f"{rows[0]['masked']} masked characters\n")
    print("| encoder | accuracy | loss |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['accuracy']:.4f} | {r['loss']:.3f} |")
    return 0


def cmd_pretrain_pack(args: argparse.Namespace) -> int:
    import json

    from minzheng_ie.core.config import load_config

    from .packed import PackedPretrainConfig, pack_corpus

    summary = pack_corpus(load_config(PackedPretrainConfig, args.config, args.set))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def cmd_pretrain_packed(args: argparse.Namespace) -> int:
    import json

    from minzheng_ie.core.config import load_config

    from .packed import PackedPretrainConfig, pretrain_packed

    summary = pretrain_packed(load_config(PackedPretrainConfig, args.config, args.set), resume=args.resume)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, ensure_ascii=False, indent=2))
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    import json

    from minzheng_ie.core.config import load_config

    from .vectors import VectorsConfig, train_vectors

    summary = train_vectors(load_config(VectorsConfig, args.config, args.set))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, ensure_ascii=False, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from minzheng_ie.core.config import load_config
    from minzheng_ie.core.errors import InputError
    from minzheng_ie.inference.cli import quiet_ray

    from .train import TrainConfig, train

    cfg = load_config(TrainConfig, args.config, args.set)
    if args.engine == "ray":
        from .distributed import train_on_ray

        workers = 2 if args.workers is None else args.workers
        if workers < 1:
            raise InputError(f"--workers {workers}: give at least 1")
        if not args.verbose:
            quiet_ray()
        info = train_on_ray(cfg, workers, args.address)
    elif args.address is not None or args.workers is not None:
        raise InputError("--address and --workers are for --engine ray; add --engine ray or drop them")
    else:
        info = train(cfg, progress=not args.quiet)
    m = info["dev_metrics"]
    print(f"{cfg.output_dir}: best epoch {info['best_epoch']}, dev entity F1 {m.get('eval_entity_f1', 0):.4f}, "
          f"relation F1 {m.get('eval_relation_f1', 0):.4f}, {info['training_minutes']:.1f} min")
    return 0


def cmd_silver(args: argparse.Namespace) -> int:
    from minzheng_ie.core.config import load_config
    from minzheng_ie.core.record import write_jsonl

    from .silver import SilverConfig, silver_docs

    cfg = load_config(SilverConfig, args.config, args.set)
    docs = silver_docs(cfg)
    write_jsonl(docs, args.out)
    print(f"{args.out}: {len(docs)} documents, {sum(len(d.text) for d in docs)} characters, "
          f"{sum(len(d.entities) for d in docs)} entities, {sum(len(d.relations) for d in docs)} relations")
    return 0
