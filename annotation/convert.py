"""`mzie annotate convert`: a Label Studio export → records JSONL and a document-level split."""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, write_jsonl, write_text_atomic
from .validate import Report, validate_export

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitSpec:
    seed: int = 13
    dev: float = 0.2
    test: float = 0.2


def split_ids(ids: list[str], spec: SplitSpec) -> dict[str, list[str]]:
    """Seeded train/dev/test split of document ids; a document is never split.

    Sizes round to the nearest document, but a non-zero fraction gets at least one
    document while train keeps at least one: 5 documents at 0.2/0.2 → 3/1/1.
    """
    if not 0 <= spec.dev < 1 or not 0 <= spec.test < 1 or spec.dev + spec.test >= 1:
        raise InputError(f"--dev {spec.dev} and --test {spec.test} must be fractions that leave room for train")
    order = sorted(ids)
    random.Random(spec.seed).shuffle(order)
    n = len(order)

    def size(frac: float) -> int:
        return 0 if frac == 0 or n < 3 else max(1, round(frac * n))

    n_test, n_dev = size(spec.test), size(spec.dev)
    while n_test + n_dev >= n and (n_test or n_dev):
        if n_dev >= n_test and n_dev:
            n_dev -= 1
        else:
            n_test -= 1
    return {"test": order[:n_test], "dev": order[n_test:n_test + n_dev], "train": order[n_test + n_dev:]}


def convert_export(export: str | Path, out_dir: str | Path, spec: SplitSpec = SplitSpec(),
                   skip_invalid: bool = False) -> tuple[Report, dict[str, list[str]]]:
    """Write all.jsonl, train/dev/test.jsonl and split.json. Raises InputError when the export has
    errors, unless `skip_invalid`, in which case documents with errors are left out and listed."""
    report = validate_export(export)
    bad = report.failed_docs()
    if bad and not skip_invalid:
        raise InputError(
            f"{export}: {len(report.errors)} validation error(s) in {len(bad)} document(s); run "
            f"`mzie annotate validate {export}` and fix them, or pass --skip-invalid to leave those documents out"
        )
    docs = [d.sorted() for d in report.docs if d.id not in bad]
    if not docs:
        raise InputError(no_labelled_message(export, len(report.unlabelled), len(bad)))
    out = Path(out_dir)
    write_jsonl(docs, out / "all.jsonl")
    split = split_ids([d.id for d in docs], spec)
    by_id = {d.id: d for d in docs}
    for name, ids in split.items():
        write_jsonl((by_id[i] for i in ids), out / f"{name}.jsonl")
    manifest = {"export": str(export), "seed": spec.seed, "dev": spec.dev, "test": spec.test,
                "skipped_invalid": sorted(bad), "unlabelled_tasks": report.unlabelled, **split}
    write_text_atomic(out / "split.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    log.info("wrote %d documents to %s (train %d, dev %d, test %d)", len(docs), out,
             len(split["train"]), len(split["dev"]), len(split["test"]))
    return report, split


SPLIT_PARTS = ("train", "dev", "test", "all")


def load_docs(path: str | Path) -> list[Doc]:
    """Records from a JSONL file or a Label Studio export (by content), for any command that takes gold.

    `SPLIT.json:PART` names part of a frozen split (annotation/data/gold/split.json:test): the
    split file lists its exports (`exports`, relative to it) and the document ids of each part.
    """
    from .labelstudio import read_export
    from minzheng_ie.core.record import read_jsonl

    name, _, part = str(path).rpartition(":")
    if name and part in SPLIT_PARTS and Path(name).is_file():
        return load_split(Path(name), part)
    p = Path(path)
    if p.suffix == ".jsonl":
        docs = list(read_jsonl(p))
        if not docs:
            raise InputError(f"{p}: no records; give a records JSONL with one document per line")
        return docs
    docs, reading = read_export(p)
    errors = [i for i in reading.issues if i.severity == "error"]
    if errors:
        raise InputError(f"{p}: {errors[0]} (and {len(errors) - 1} more); run `mzie annotate validate {p}`"
                         if len(errors) > 1 else f"{p}: {errors[0]}")
    if not docs:
        raise InputError(no_labelled_message(p, len(reading.unlabelled)))
    return docs


def no_labelled_message(export: str | Path, unlabelled: int, invalid: int = 0) -> str:
    left_out = f", {invalid} left out for validation errors" if invalid else ""
    return (f"{export}: no labelled document ({unlabelled} task(s) without annotations{left_out}); label "
            f"the tasks and export again, or check that this is a Label Studio JSON export (annotations "
            f"under \"annotations\", or \"completions\" before Label Studio 1.0)")


def load_split(path: Path, part: str) -> list[Doc]:
    """The documents of one part of a split file, from the exports it lists, in split order."""
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the split file ({exc})") from exc
    if not isinstance(split, dict) or not split.get("exports"):
        raise InputError(f"{path}: a split file names its exports (\"exports\": [...]) and lists train/dev/test ids")
    docs: dict[str, Doc] = {}
    for export in split["exports"]:
        for d in load_docs(path.parent / export):
            if d.id in docs:
                raise InputError(f"{path}: document {d.id} is in two exports; ids must be unique across a split")
            docs[d.id] = d
    ids = [i for k in ("train", "dev", "test") for i in split.get(k, [])] if part == "all" else split.get(part, [])
    # A split is frozen when passages are chosen, before all of them are annotated: a passage
    # not yet in any export is skipped (and said so), never moved to another part.
    missing = [i for i in ids if i not in docs]
    if missing:
        log.warning("%s: %d of %d %s document(s) are not annotated yet (in none of its exports), e.g. %s",
                    path, len(missing), len(ids), part, ", ".join(missing[:3]))
    found = [docs[i] for i in ids if i in docs]
    if not found:
        raise InputError(f"{path}: none of its {part} documents is in its exports ({', '.join(split['exports'])}); "
                         f"annotate them or point the split at the right exports")
    unknown = sorted(set(docs) - {i for k in ("train", "dev", "test") for i in split.get(k, [])})
    if unknown:
        raise InputError(f"{path}: {len(unknown)} annotated document(s) are in no part of the split "
                         f"({', '.join(unknown[:5])}); add them with `mzie annotate passages --extend-split`")
    return found
