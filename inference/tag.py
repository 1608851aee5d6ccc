"""Batch tagging: read inputs, tag each document, write records; a bad document never stops the batch.

`--model rules` runs the rule pre-annotator through this same path; a trained model
directory plugs in behind the same `Tagger` interface. What each --format writes is
in `outputs.py`.

Resuming. Every output keeps its records JSONL (the output itself for jsonl; a
companion file or `OUT/records.jsonl` otherwise), and each record carries
`meta.content_hash` (sha256 of the text, UTF-8) and `meta.model_version`.

  * At start, the records file and the work file `*.partial.jsonl` left by an unfinished
    run are read; a last line cut short by a kill is ignored (and cut off the file).
  * A document is known by its id (what the reader names it: path under the input
    folder, file stem, or JSONL id). When a record with that id has the same content
    hash and model version, the document is skipped; otherwise it is tagged and its
    record replaces the old one in place, so no id appears twice.
  * Each new record is appended to the work file and flushed at once, so a kill loses
    at most the document being tagged.
  * At the end every output file is rewritten from all records (this run's inputs in
    input order, then earlier records of documents not in this run), each atomically
    (temp file + rename); the records file goes last, then the work file is removed.

A kill at any moment therefore leaves each output file either as it was or complete,
and the work file holds whatever the final files do not yet; rerunning the same
command picks up from there. Records are only added or replaced, never dropped: a
document that fails keeps its earlier record, and is listed in the errors file.

Engines. Reading, checking and tagging (`work`) run in this process (`LocalEngine`, `--engine
local`) or inside Ray workers (`ray_engine.RayEngine`, `--engine ray`), the same code either way;
`run_batch` keeps the books and writes every file in this process for both.

The output must lie outside the input folders: its records, work and errors files are
JSONL, which the reader would take for reports on the next run. That is checked at start.
"""
from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping, Protocol, Union

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.readers import ReadFailure, ReadResult, Unit, count_inputs, plan_inputs, read_unit
from minzheng_ie.core.record import Doc, content_hash, dumps, read_jsonl, write_jsonl, write_text_atomic

from .outputs import OutputPaths, output_paths, write_outputs

log = logging.getLogger(__name__)

# The rule tagger handles about 50k characters a second and its memory grows with the
# matches; a report is rarely over 100k characters. Longer inputs are usually several
# reports concatenated or not reports at all, so they are reported instead of tagged.
DEFAULT_MAX_CHARS = 2_000_000


class Tagger(Protocol):
    model_version: str

    def __call__(self, doc: Doc) -> Doc: ...


# The shipped default model, in the repository checkout the package is installed from (pip install -e).
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "minzheng-small"


def resolve_model(model: str) -> str:
    """'default' → the shipped model's folder; anything else as given."""
    if model != "default":
        return model
    if not (DEFAULT_MODEL / "minzheng.json").exists():
        raise InputError(f"--model default: the default model ships in the repository (models/minzheng-small) "
                         f"and is not at {DEFAULT_MODEL}; install from a checkout (pip install -e .), or give "
                         f"--model DIR or --model rules")
    return str(DEFAULT_MODEL)


def load_tagger(model: str, runtime: str = "torch") -> Tagger:
    """'default' → the shipped model; 'rules' → the rule pre-annotator; a folder written by
    `mzie train` → that model, run by `runtime` (torch, onnx or int8; see model_tagger.py).
    A missing or incomplete folder fails here, at start, naming what is missing."""
    if model == "rules":
        from minzheng_ie.annotation.rules import RuleTagger

        return RuleTagger()
    from .model_tagger import ModelTagger

    return ModelTagger(resolve_model(model), runtime=runtime)


def tagger_version(model: str, runtime: str = "torch") -> str:
    """The model_version `load_tagger(model, runtime)` would stamp, without loading any weights (for
    a driver that leaves the loading to its workers). A missing or incomplete model fails here."""
    if model == "rules":
        from minzheng_ie.annotation.rules import VERSION

        return VERSION
    from .model_tagger import model_version

    return model_version(resolve_model(model), runtime)


class Progress(Protocol):
    """What the CLI's progress bar offers; the library never makes one. It wraps the stream of
    *tagged* results (so rates are of tagging, not of reading), with `total` the documents
    planned, and hears of each planned document that needs no tagging (`skip`)."""

    def __call__(self, results: Iterable, total: int | None = None) -> Iterable: ...

    def skip(self) -> None: ...


def _source(doc: Doc) -> str:
    return str(doc.meta.extra.get("file", doc.id))


def size_failure(doc: Doc, max_chars: int | None) -> ReadFailure | None:
    if max_chars and len(doc.text) > max_chars:
        return ReadFailure(_source(doc), f"{len(doc.text):,} characters, over the --max-chars limit of "
                                         f"{max_chars:,}; split the document or raise --max-chars")
    return None


def stamped(out: Doc, tagger: Tagger) -> Doc:
    """A tagged record with what a rerun needs to know it is done: the model version and content hash."""
    out.meta.extra["model_version"] = tagger.model_version
    out.meta.extra["content_hash"] = content_hash(out.text)
    return out


def tag_one(doc: Doc, tagger: Tagger) -> Doc | ReadFailure:
    """The tagged record, or a failure naming the document; a failing document never stops a batch."""
    try:
        out = tagger(doc)
    except Exception as exc:  # any tagger error (rules or model) is this document's, not the batch's
        log.warning("failed to tag %s: %s: %s", doc.id, type(exc).__name__, exc)
        log.debug("traceback for %s", doc.id, exc_info=True)
        return ReadFailure(_source(doc), f"tagging failed ({type(exc).__name__}: {exc})")
    return stamped(out, tagger)


def tag_docs(results: Iterable[Doc | ReadFailure], tagger: Tagger, progress: Progress | None = None,
             max_chars: int | None = DEFAULT_MAX_CHARS) -> tuple[list[Doc], list[ReadFailure]]:
    """Tag everything in memory (no output files): (records, failures)."""
    done, failed = [], []
    checked = ((size_failure(res, max_chars) or res) if isinstance(res, Doc) else res for res in results)
    out = tagged(checked, tagger)
    for res in (progress(out) if progress else out):
        if isinstance(res, ReadFailure):
            log.warning("skipped %s: %s", res.source, res.reason)
            failed.append(res)
        else:
            done.append(res)
    return done, failed


def tagged(stream: Iterable, tagger: Tagger, batch_chars: int = 32_000) -> Iterator:
    """Tag the documents `stream` yields, in order; anything else in it (failures, `Seen`) passes
    through in its place. A tagger with `tag_batch` (a model) gets documents in groups of about
    `batch_chars` characters, so short documents share batches; if a group fails, its documents
    are tagged one by one, so only the bad one is reported."""
    batch = getattr(tagger, "tag_batch", None)
    if batch is None:
        for res in stream:
            yield tag_one(res, tagger) if isinstance(res, Doc) else res
        return
    group: list = []

    def run() -> list:
        docs = [d for d in group if isinstance(d, Doc)]
        try:
            outs = iter(batch(docs))
        except Exception as exc:  # a failing group is retried document by document, to name the culprit
            log.info("a group of %d documents failed (%s); tagging them one by one", len(docs), exc)
            outs = iter([tag_one(d, tagger) for d in docs])
            return [next(outs) if isinstance(d, Doc) else d for d in group]
        return [stamped(next(outs), tagger) if isinstance(d, Doc) else d for d in group]

    size = 0
    for res in stream:
        group.append(res)
        size += len(res.text) if isinstance(res, Doc) else 0
        if size >= batch_chars:
            yield from run()
            group, size = [], 0
    if group:
        yield from run()


# -- the work, wherever it runs ----------------------------------------------------------------

@dataclass
class Seen:
    """A document that was read, in input order: its id (the output keeps input order), a warning
    about how it was read, and whether it is already in the output with this text and model."""
    id: str
    warning: ReadFailure | None = None
    skipped: bool = False


# What the work yields, in input order: a Seen for every document read, then its tagged record
# (unless it was skipped) or the failure that stopped it; a failure for an input that could not be read.
Item = Union[Doc, ReadFailure, Seen]


def checked(results: Iterable[ReadResult], done: Mapping[str, str], max_chars: int | None) -> Iterator[Item]:
    """The documents among `results` that need tagging, after a Seen for each. `done`: id → content
    hash of the records the output already has from this run's model (see `done_hashes`)."""
    for res in results:
        if isinstance(res, ReadFailure):
            yield res
            continue
        too_big = size_failure(res, max_chars)
        if too_big:
            yield Seen(res.id)
            yield too_big
            continue
        res.meta.extra["content_hash"] = content_hash(res.text)
        skip = done.get(res.id) == res.meta.extra["content_hash"]
        yield Seen(res.id, damage_warning(res), skip)  # the warning even when skipped, so a rerun still lists it
        if not skip:
            yield res


def work(units: Iterable[Unit | ReadFailure], tagger: Tagger, done: Mapping[str, str],
         max_chars: int | None = DEFAULT_MAX_CHARS) -> Iterator[Item]:
    """Read, check and tag planned units: the one pipeline of both engines (in this process for
    `--engine local`, inside every worker for `--engine ray`)."""
    results = (res for unit in units for res in (read_unit(unit) if isinstance(unit, Unit) else (unit,)))
    return tagged(checked(results, done, max_chars), tagger)


class Engine(Protocol):
    """Where reading and tagging run. `items` yields what `work` yields for `units`, in their order."""
    model_version: str

    def items(self, units: Iterable[Unit | ReadFailure], done: Mapping[str, str],
              max_chars: int | None) -> Iterator[Item]: ...


class LocalEngine:
    """This process, with a loaded tagger (`--engine local`)."""

    def __init__(self, tagger: Tagger):
        self.tagger = tagger
        self.model_version = tagger.model_version

    def items(self, units: Iterable[Unit | ReadFailure], done: Mapping[str, str],
              max_chars: int | None) -> Iterator[Item]:
        return work(units, self.tagger, done, max_chars)


# -- resumable batches ---------------------------------------------------------------------

@dataclass
class BatchResult:
    paths: OutputPaths
    records: int = 0  # in the output now
    tagged: int = 0  # this run
    skipped: int = 0  # already in the output with the same text and model
    failed: list[ReadFailure] = field(default_factory=list)
    warnings: list[ReadFailure] = field(default_factory=list)  # tagged, but the errors file says why to look


def read_partial(path: Path) -> list[Doc]:
    """Records from a work file; an unfinished last line (a kill mid-write) is ignored and cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        log.info("%s: ignoring an unfinished last line left by a stopped run", path)
        with path.open("r+b") as fh:  # so the next appended record starts on a line of its own
            fh.truncate(complete)
    docs = []
    for lineno, line in enumerate(data[:complete].split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            docs.append(Doc.from_json(json.loads(line.decode("utf-8")), f"{path}:{lineno}"))
        except (UnicodeDecodeError, json.JSONDecodeError, InputError) as exc:
            # only this run's own writes are here; a damaged line just means that document is tagged again
            log.warning("%s:%d: unreadable record ignored (%s); that document will be tagged again", path, lineno, exc)
    return docs


def load_records(paths: OutputPaths) -> dict[str, Doc]:
    """id → record from earlier runs: the finished records, then the newer work file over them."""
    records: dict[str, Doc] = {}
    if paths.records.exists():
        try:
            for d in read_jsonl(paths.records):
                records[d.id] = d
        except InputError as exc:
            raise InputError(f"{exc}. {paths.records} is not a records file written by `mzie tag`; "
                             f"choose another -o or move it away") from exc
    for d in read_partial(paths.partial):
        records[d.id] = d
    return records


def done_hashes(records: Mapping[str, Doc], model_version: str) -> dict[str, str]:
    """id → content hash of every record already tagged by `model_version`: a document with the same
    id and hash is done (the rerun rule)."""
    return {i: d.meta.extra["content_hash"] for i, d in records.items()
            if d.meta.extra.get("model_version") == model_version and d.meta.extra.get("content_hash")}


def check_apart(inputs: list[str], paths: OutputPaths) -> None:
    """Refuse an output the reader would pick up as input on the next run (its records, work file and
    errors file are all .jsonl, which the reader takes for reports)."""
    own = [paths.out, paths.records, paths.partial, paths.errors]
    for item in inputs:
        if item == "-":
            continue
        p = Path(item)
        if p.is_dir():
            if any(o.resolve().is_relative_to(p.resolve()) for o in own):
                raise InputError(f"-o {paths.out} is inside the input folder {item}, so its records would be read "
                                 f"back as reports; write the output outside the input folders")
            continue
        matches = [p] if p.is_file() else [Path(m) for m in glob.glob(item, recursive=True)]
        for m in matches:
            if paths.owns(m):
                raise InputError(f"{m} is both an input and part of the output -o {paths.out}; "
                                 f"write the output elsewhere")


def run_batch(inputs: list[str], out: str | Path, tagger: Tagger | None = None, fmt: str = "jsonl",
              progress: Progress | None = None, max_chars: int | None = DEFAULT_MAX_CHARS,
              engine: Engine | None = None) -> BatchResult:
    """Tag what is not done yet, then write every output file; see the module docstring. The reading
    and tagging run on `engine` (default: this process, with `tagger`); everything else runs here."""
    if engine is None:
        if tagger is None:
            raise TypeError("run_batch needs a tagger or an engine")
        engine = LocalEngine(tagger)
    paths = output_paths(out, fmt)
    check_apart(inputs, paths)
    records = load_records(paths)
    result = BatchResult(paths)
    order: list[str] = []  # this run's document ids, in input order
    if records:
        log.info("%s: %d record(s) from earlier runs", paths.records, len(records))

    def accounted(items: Iterable[Item]) -> Iterator[Doc | ReadFailure]:
        """The books on every document read (order, warnings, skips); passes on what the bar counts."""
        for item in items:
            if not isinstance(item, Seen):
                yield item
                continue
            order.append(item.id)
            if item.warning:
                result.warnings.append(item.warning)
            if item.skipped:
                result.skipped += 1
                if progress:
                    progress.skip()

    work_file: IO[str] | None = None
    items = engine.items(plan_inputs(inputs), done_hashes(records, engine.model_version), max_chars)
    stream = progress(accounted(items), total=count_inputs(inputs)) if progress else accounted(items)
    try:
        for res in stream:
            if isinstance(res, ReadFailure):
                log.warning("skipped %s: %s", res.source, res.reason)
                result.failed.append(res)
                continue
            if work_file is None:  # opened on first use: a run with nothing new leaves no work file behind
                paths.partial.parent.mkdir(parents=True, exist_ok=True)
                work_file = paths.partial.open("a", encoding="utf-8", newline="\n")
            work_file.write(dumps(res) + "\n")
            work_file.flush()
            records[res.id] = res
            result.tagged += 1
    except KeyboardInterrupt:
        log.warning("interrupted after %d new record(s), kept in %s; rerun the same command to resume",
                    result.tagged, paths.partial)
        raise
    finally:
        for gen in (stream, items):  # a progress bar closes itself, and an engine stops its workers
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        if work_file is not None:
            work_file.close()

    seen = set(order)
    docs = [records[i] for i in order if i in records] + [d for i, d in records.items() if i not in seen]
    write_outputs(docs, paths)
    write_jsonl(docs, paths.records)  # last: until it is in place, the work file still holds the new records
    paths.partial.unlink(missing_ok=True)
    write_errors(result.failed, paths.errors, result.warnings)
    if paths.records != paths.out:
        log.info("records kept in %s: a rerun reads them to skip what is done", paths.records)
    result.records = len(docs)
    return result


def damage_warning(doc: Doc) -> ReadFailure | None:
    replaced = doc.meta.extra.get("replaced_bytes")
    if not replaced:
        return None
    reason = (f"{replaced} byte(s) are not UTF-8 and were read as U+FFFD (meta.replaced_bytes); the document "
              f"was tagged, but fetch or copy the file again if those characters matter")
    log.warning("%s: %s", _source(doc), reason)
    return ReadFailure(_source(doc), reason)


def write_errors(failed: list[ReadFailure], path: Path, warnings: list[ReadFailure] = ()) -> None:
    """One JSON line per document: failures (`severity` error: not tagged) and warnings (tagged)."""
    lines = [(f, "error") for f in failed] + [(w, "warning") for w in warnings]
    if lines:
        write_text_atomic(path, "".join(
            json.dumps({"source": f.source, "reason": f.reason, "severity": sev}, ensure_ascii=False) + "\n"
            for f, sev in lines))
        if failed:
            log.warning("%d document(s) failed; reasons in %s", len(failed), path)
    elif path.exists():  # the last run's failures are fixed or gone
        path.unlink()


def tag_inputs(inputs: list[str], out: str | Path, model: str = "rules", fmt: str = "jsonl",
               progress: Progress | None = None, max_chars: int | None = DEFAULT_MAX_CHARS,
               runtime: str = "torch", engine: str = "local", address: str | None = None,
               workers: int | None = None) -> int:
    """Tag and write; exit status 0 when every document was tagged, 1 when some failed.
    `engine`: "local" (this process) or "ray" (workers on a Ray cluster at `address`, or on a Ray
    instance started here when it is None; see ray_engine.py)."""
    output_paths(out, fmt)  # a wrong --format or -o fails before the model loads
    if engine == "ray":
        from .ray_engine import RayEngine

        # the model folder is checked here; it loads on the workers, once each
        runner: Engine = RayEngine(model, runtime, address=address, workers=workers)
    elif engine == "local":
        if address is not None or workers is not None:
            raise InputError("--address and --workers are for --engine ray; add --engine ray or drop them")
        runner = LocalEngine(load_tagger(model, runtime))  # a bad model fails here, before any input is read
    else:
        raise InputError(f"--engine {engine!r}: choose local or ray")
    r = run_batch(inputs, out, fmt=fmt, progress=progress, max_chars=max_chars, engine=runner)
    log.info("%s: %d record(s); tagged %d, skipped %d already done, %d failed", r.paths.out, r.records,
             r.tagged, r.skipped, len(r.failed))
    return 1 if r.failed else 0
