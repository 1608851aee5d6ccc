"""`mzie train --engine ray`: the local recipe (train.fit), data-parallel on Ray Train workers.

Each worker is one CPU and one process of a torch (gloo) process group that Ray Train sets up;
transformers' Trainer sees the group and wraps the model in DistributedDataParallel, so every
worker trains on its share of the windows and gradients are averaged each step. The first
worker then writes the model folder, exactly as a local run does, and hands it to Ray Train
as a checkpoint; the driver copies it to output_dir. Ray Train keeps that checkpoint under a
staging folder beside output_dir (`.<name>.ray-train`, removed afterwards), so on a cluster
output_dir's parent must be storage every node shares.

Scaling: a step still sees batch_size windows (batch_size / workers each), so the recipe and its
schedule are unchanged and the time per epoch falls with the workers until the per-step
all-reduce of the gradients (the whole model, every step) dominates.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from minzheng_ie.core.errors import InputError

from .train import TrainConfig, check_train_config, per_worker_batch

log = logging.getLogger(__name__)


def _import_ray_train():
    try:
        import ray
        import ray.train.torch  # noqa: F401
    except ImportError as exc:
        raise InputError("--engine ray needs Ray: pip install -e '.[ray]' in the minzheng-ie checkout "
                         "(on every machine of the cluster), or train with --engine local") from exc
    return ray


def _worker(config: dict) -> None:
    """One Ray Train worker: the recipe, then (first worker) the model folder as a checkpoint."""
    import ray.train
    import torch

    from .train import fit, write_model

    # the driver's level for this package's log only: the root logger at INFO would also turn on
    # the traces of libraries that log at INFO (dill prints bytecode while `datasets` hashes)
    ours = logging.getLogger("minzheng_ie")
    ours.setLevel(config["log_level"])
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    ours.addHandler(handler)
    os.chdir(config["cwd"])  # relative data and model paths mean what they mean to the driver
    torch.set_num_threads(1)  # one CPU per worker, as Ray reserved
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer, info = fit(config["cfg"], Path(tmp) / "scratch", distributed=True)
        checkpoint = None
        if rank == 0:
            write_model(Path(tmp) / "model", model, tokenizer, info)
            checkpoint = ray.train.Checkpoint.from_directory(str(Path(tmp) / "model"))
        # every worker reports (Ray Train waits for all); only the first has the model
        ray.train.report({"best_epoch": info["best_epoch"]}, checkpoint=checkpoint)


def train_on_ray(cfg: TrainConfig, workers: int, address: str | None = None) -> dict:
    """Train with `workers` Ray Train workers (on a Ray instance started here, or the cluster at
    `address`) and save the model in cfg.output_dir; the saved info, as `train` returns it."""
    import json

    ray = _import_ray_train()
    if address and address.startswith("ray://"):
        raise InputError(f"--address {address}: train from a machine of the cluster (--address auto or HEAD:6379), "
                         f"not through Ray Client: the model comes back through a folder beside output_dir that "
                         f"this process and the first worker must both reach")
    # a batch that does not split, or options that do not go together, fail before Ray starts
    per_worker_batch(cfg, workers)
    check_train_config(cfg)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out = Path(cfg.output_dir).resolve()
    staging = out.parent / f".{out.name}.ray-train"
    if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, configure_logging=False)
    else:
        ray.init(address=address, configure_logging=False)
    try:
        trainer = TorchTrainer(
            _worker,
            train_loop_config={"cfg": cfg, "cwd": os.getcwd(), "log_level": logging.getLogger().getEffectiveLevel()},
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name="train", storage_path=str(staging)),
        )
        result = trainer.fit()
        if result.checkpoint is None:
            raise InputError(f"Ray Train finished without a model (see the errors above); nothing was written "
                             f"to {out}")
        with result.checkpoint.as_directory() as folder:
            shutil.copytree(folder, out, dirs_exist_ok=True)
    finally:
        ray.shutdown()
        shutil.rmtree(staging, ignore_errors=True)
    return json.loads((out / "minzheng.json").read_text(encoding="utf-8"))
