"""`mzie tag --engine ray`: the local engine's reading and tagging, on the workers of a Ray cluster.

The driver (the process running `mzie tag`) plans the inputs (`plan_inputs`: every document's
id, nothing decoded) and packs the planned units into pieces of work (`piece_bytes`). Ray
Data hands the pieces to a fixed pool of actors (`TagWorker`, a callable class in
`map_batches`): each actor loads the model once, then runs `tag.work` on every piece it is
given, which is the local engine's reading, decoding, checks, skip rule and tagging, code for
code. What comes back goes, in input order, through the local engine's bookkeeping in
`run_batch` on the driver, which alone writes the output, the work file and the errors file.

Failures. A document that cannot be read or tagged is a failure in the stream, as locally.
A worker process that dies (killed, out of memory) is restarted by Ray and the piece it held
is run again (Ray Data's actors have `max_restarts=-1` and `max_task_retries=-1`). The
driver keeps the first result of each piece and drops a repeat, and a piece that never comes
back is reported as failed, so the output has neither duplicates nor silent gaps. A document
that kills its worker every time would be retried without end: stop the run (Ctrl-C), find it
with `--engine local`, and move it away.

Where things are. Workers read the inputs and load the model themselves, so both must be at
the same path on every node (shared storage); relative paths are taken from the driver's
working directory. Stdin is read on the driver. The output is written by the driver only.
"""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.readers import ReadFailure, Unit

from .tag import Item, tagger_version, work

log = logging.getLogger(__name__)

# Pieces of work: each worker gets about PIECES_PER_WORKER of them, so that when the last pieces
# run the other workers wait at most about an eighth of their share; no smaller than MIN_PIECE_BYTES
# (about 5,000 Chinese characters in UTF-8: a few windows batches, well above Ray's per-task cost)
# and no larger than MAX_PIECE_BYTES (about 330,000 characters, a minute of one worker: what a
# restarted worker repeats at most). 1M reports of 15 KB with 160 workers: 15,000 pieces of 1 MB.
PIECES_PER_WORKER = 8
MIN_PIECE_BYTES = 16 * 1024
MAX_PIECE_BYTES = 1024 * 1024
# Set by tests to force small pieces; None: piece_bytes decides.
WORK_BYTES: int | None = None
# Fault injection for tests: the first worker to create this file (atomically) exits at once,
# in the middle of a piece, as a killed process would.
EXIT_ONCE_ENV = "MZIE_RAY_EXIT_ONCE"
# Passed on to the workers, so that they are as quiet (or not) as the driver.
FORWARDED_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS",
                 EXIT_ONCE_ENV)


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs both; an old Ray without Data fails here)
    except ImportError as exc:
        raise InputError("--engine ray needs Ray: pip install -e '.[ray]' in the minzheng-ie checkout "
                         "(on every machine of the cluster), or use --engine local") from exc
    return ray


def piece_bytes(total: int, workers: int) -> int:
    """Input bytes per piece of work for `total` bytes over `workers` workers (see PIECES_PER_WORKER)."""
    return min(MAX_PIECE_BYTES, max(MIN_PIECE_BYTES, total // (workers * PIECES_PER_WORKER)))


def refuse_client(address: str | None) -> None:
    """Ray Client (ray://) cannot run Ray Data: in Ray 2.60 its streaming executor needs a driver
    with a core worker of its own (it fails with "'Worker' object has no attribute 'core_worker'")."""
    if address and address.startswith("ray://"):
        raise InputError(f"--address {address}: Ray Data does not run through Ray Client (ray://) in this Ray "
                         f"version; run mzie on a machine of the cluster with --address auto (or HEAD:6379), or "
                         f"submit it there as a Ray job: ray job submit --address http://HEAD:8265 -- mzie tag … "
                         f"--engine ray --address auto")


def pack(units: Iterable[Unit | ReadFailure], work_bytes: int) -> list[list[Unit | ReadFailure]]:
    """Consecutive units in pieces of at least `work_bytes` (the last may be smaller), order kept."""
    pieces: list[list[Unit | ReadFailure]] = []
    piece: list[Unit | ReadFailure] = []
    size = 0
    for unit in units:
        piece.append(unit)
        size += unit.size if isinstance(unit, Unit) else 0
        if size >= work_bytes:
            pieces.append(piece)
            piece, size = [], 0
    if piece:
        pieces.append(piece)
    return pieces


def _exit_once_here() -> None:
    path = os.environ.get(EXIT_ONCE_ENV)
    if not path:
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(1)


class TagWorker:
    """One Ray actor: loads the tagger once, then runs the local engine's `work` on each piece.
    Rows in and out are pickled Python objects (between processes of one cluster, as Ray itself
    does), so records arrive exactly as the local engine would hold them, scores unrounded."""

    def __init__(self, model: str, runtime: str, done: list, max_chars: int | None, cwd: str | None):
        import ray
        import torch

        from .tag import load_tagger

        if cwd is not None:
            if not os.path.isdir(cwd):
                raise InputError(f"relative input or model paths are taken from the driver's working directory "
                                 f"{cwd}, which this node ({ray.util.get_node_ip_address()}) does not have; give "
                                 f"absolute paths on storage every node shares")
            os.chdir(cwd)
        torch.set_num_threads(1)  # one CPU per worker: a node runs as many workers as it has cores
        self.tagger = load_tagger(model, runtime)
        self.done: Mapping[str, str] = ray.get(done[0])
        self.max_chars = max_chars

    def __call__(self, batch: dict) -> dict:
        out = []
        for units in batch["units"]:
            items = []
            for item in work(pickle.loads(units), self.tagger, self.done, self.max_chars):
                items.append(item)
                _exit_once_here()
            out.append(pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL))
        return {"seq": batch["seq"], "items": out}


class RayEngine:
    """`run_batch`'s engine for `--engine ray`. `address`: None starts a Ray instance on this machine
    (with `workers` CPUs, default all); "auto" or "HOST:6379" joins a running cluster from one of
    its machines (Ray Client, ray://, is refused: see refuse_client). `workers`: actors in the pool,
    one CPU each (default: every CPU Ray has). `work_bytes`: a fixed piece size (tests, benchmarks)."""

    def __init__(self, model: str, runtime: str = "torch", address: str | None = None, workers: int | None = None,
                 work_bytes: int | None = None):
        import_ray()
        refuse_client(address)
        if workers is not None and workers < 1:
            raise InputError(f"--workers {workers}: give at least 1")
        self.model, self.runtime, self.address, self.workers = model, runtime, address, workers
        self.work_bytes = work_bytes  # None: piece_bytes, once the workers are known
        self.model_version = tagger_version(model, runtime)  # a bad --model fails here, before Ray starts

    def items(self, units: Iterable[Unit | ReadFailure], done: Mapping[str, str],
              max_chars: int | None) -> Iterator[Item]:
        ray = import_ray()
        units = list(units)  # the plan: paths and ids, no text (stdin's bytes aside)
        if not units:
            return
        try:
            self._start(ray)
            total = sum(u.size for u in units if isinstance(u, Unit))
            pieces = pack(units, self.work_bytes or WORK_BYTES or piece_bytes(total, self.workers))
            yield from self._run(ray, pieces, done, max_chars)
        finally:
            ray.shutdown()  # stops a local instance; from a cluster, only this driver disconnects

    def _start(self, ray) -> None:
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        # the CLI, not Ray, decides what is logged (configure_logging=False)
        kwargs = dict(runtime_env={"env_vars": env}, configure_logging=False)
        if self.address is None:
            # a Ray instance on this machine; without a limit it would take every core
            ray.init(num_cpus=self.workers or os.cpu_count() or 1, include_dashboard=False, **kwargs)
        else:
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as exc:
                raise InputError(f"--address {self.address}: cannot join a Ray cluster there ({exc}); start one "
                                 f"with `ray start --head`, and if it uses token authentication, run mzie with "
                                 f"RAY_AUTH_MODE=token and the cluster's token (~/.ray/auth_token or RAY_AUTH_TOKEN)"
                                 ) from exc
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if self.workers is None:
            self.workers = max(1, cpus)
        log.info("Ray: %d worker(s) on a cluster of %d CPU(s)", self.workers, cpus)

    def _run(self, ray, pieces: list[list[Unit | ReadFailure]], done: Mapping[str, str],
             max_chars: int | None) -> Iterator[Item]:
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results in input order, as the local engine gives them
        ctx.enable_progress_bars = False  # the driver's own bar counts documents
        paths = [Path(u.path) for piece in pieces for u in piece if isinstance(u, Unit) and u.kind != "stdin"]
        # "default" and "rules" need no path: each worker finds the shipped model in its own install
        own_path = self.model not in ("default", "rules")
        relative = any(not p.is_absolute() for p in paths) or (own_path and not Path(self.model).is_absolute())
        rows = [{"seq": i, "units": pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL)} for i, p in enumerate(pieces)]
        # one piece per block: a block is what one actor call retries, so keep them small
        actors = min(self.workers, len(rows))  # an actor more than there are pieces would only load the model
        ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            TagWorker, batch_size=1, compute=ActorPoolStrategy(size=actors), num_cpus=1,
            fn_constructor_kwargs={"model": self.model, "runtime": self.runtime, "done": [ray.put(dict(done))],
                                   "max_chars": max_chars, "cwd": os.getcwd() if relative else None})
        got: set[int] = set()
        try:
            for row in ds.iter_rows():
                seq = int(row["seq"])
                if seq in got:  # a piece run twice (a retry after its first result was delivered): keep the first
                    log.info("dropped a repeated result for piece %d", seq)
                    continue
                got.add(seq)
                yield from pickle.loads(row["items"])
        except ray.exceptions.RayError as exc:
            cause = _input_error(exc)
            if cause is not None:  # a worker could not start (a model folder missing on its node…): one line
                raise cause from None
            raise
        for seq, piece in enumerate(pieces):
            if seq not in got:
                yield from _lost(piece)


def _input_error(exc: BaseException) -> InputError | None:
    """The InputError a worker raised, when that is what `exc` carries."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InputError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def _lost(piece: list[Unit | ReadFailure]) -> Iterator[ReadFailure]:
    """Failures for a piece whose result never came back, so that nothing is lost without a word."""
    for unit in piece:
        if isinstance(unit, ReadFailure):
            yield unit
        else:
            yield ReadFailure(unit.path, "no result came back from the Ray workers for this input; "
                                         "rerun the same command to tag it")
