"""Batch tagging: read inputs, tag each document, write records; a bad document never stops the batch.

`--model rules` runs the rule pre-annotator through this same path; a trained model
directory plugs in behind the same `Tagger` interface.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from minzheng_ie.annotation.errors import InputError
from minzheng_ie.annotation.readers import ReadFailure, read_inputs
from minzheng_ie.annotation.record import Doc, write_jsonl, write_text_atomic

log = logging.getLogger(__name__)


class Tagger(Protocol):
    model_version: str

    def __call__(self, doc: Doc) -> Doc: ...


def load_tagger(model: str) -> Tagger:
    """'rules' → the rule pre-annotator; a folder written by `mzie train` → that model.
    A missing or incomplete folder fails here, at start, naming what is missing."""
    if model == "rules":
        from minzheng_ie.annotation.rules import RuleTagger

        return RuleTagger()
    from .model_tagger import ModelTagger

    return ModelTagger(model)


Progress = Callable[[Iterable], Iterable]  # the CLI passes a progress bar; the library never makes one


def tag_docs(results: Iterator[Doc | ReadFailure], tagger: Tagger, progress: Progress | None = None
             ) -> tuple[list[Doc], list[ReadFailure]]:
    done, failed = [], []
    for res in (progress or iter)(results):
        if isinstance(res, ReadFailure):
            log.warning("skipped %s: %s", res.source, res.reason)
            failed.append(res)
            continue
        try:
            doc = tagger(res)
        except (ValueError, RuntimeError, MemoryError) as exc:  # one document's failure is reported, not fatal
            log.warning("failed to tag %s: %s", res.id, exc)
            failed.append(ReadFailure(str(res.meta.extra.get("file", res.id)), f"tagging failed: {exc}"))
            continue
        doc.meta.extra["model_version"] = tagger.model_version
        done.append(doc)
    return done, failed


def tag_inputs(inputs: list[str], out: str | Path, model: str = "rules", fmt: str = "jsonl",
               progress: Progress | None = None) -> int:
    """Tag and write; exit status 0 when every document was tagged, 1 when some failed."""
    from minzheng_ie.annotation import markup
    from minzheng_ie.annotation.labelstudio import write_tasks

    tagger = load_tagger(model)
    docs, failed = tag_docs(read_inputs(inputs), tagger, progress)
    out = Path(out)
    if fmt == "jsonl":
        write_jsonl(docs, out)
    elif fmt == "label-studio":
        write_tasks(docs, out, tagger.model_version)
    elif fmt == "markup":
        out.mkdir(parents=True, exist_ok=True)
        for d in docs:
            write_text_atomic(out / f"{d.id.replace('/', '__')}.ann", markup.to_markup(d))
    else:
        raise InputError(f"--format {fmt!r}: choose jsonl, label-studio or markup")
    errors_path = out.with_name(out.name + ".errors.jsonl") if fmt != "markup" else out / "errors.jsonl"
    if failed:
        write_text_atomic(errors_path, "".join(
            json.dumps({"source": f.source, "reason": f.reason}, ensure_ascii=False) + "\n" for f in failed))
        log.warning("%d document(s) failed; reasons in %s", len(failed), errors_path)
    elif errors_path.exists():
        errors_path.unlink()
    n_ent = sum(len(d.entities) for d in docs)
    log.info("tagged %d document(s), %d entities → %s", len(docs), n_ent, out)
    return 1 if failed else 0
