"""`mzie annotate …`: the Label Studio config, validation, conversion, pre-annotation,
statistics, agreement, consistency, gold passages and inline markup."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="labels: Label Studio config, validation, conversion, pre-annotation")
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    c = asub.add_parser("config", help="print the Label Studio labeling config generated from configs/schema.yaml")
    c.add_argument("--schema", help="schema YAML (default: the project's configs/schema.yaml)")
    c.set_defaults(func=cmd_config)

    v = asub.add_parser("validate", help="check a Label Studio JSON export against the spec; exit 1 on errors")
    v.add_argument("export", help="Label Studio JSON export (Export → JSON)")
    v.add_argument("--json", action="store_true", help="print problems as JSON lines")
    v.set_defaults(func=cmd_validate)

    cv = asub.add_parser("convert", help="export → records JSONL with a seeded document-level train/dev/test split")
    cv.add_argument("export")
    cv.add_argument("-o", "--out", required=True, help="output folder")
    cv.add_argument("--seed", type=int, default=13)
    cv.add_argument("--dev", type=float, default=0.2, help="fraction of documents for dev (default 0.2)")
    cv.add_argument("--test", type=float, default=0.2, help="fraction of documents for test (default 0.2)")
    cv.add_argument("--skip-invalid", action="store_true", help="leave out documents with errors instead of failing")
    cv.set_defaults(func=cmd_convert)

    pl = asub.add_parser("prelabel", help="rule pre-annotations as Label Studio tasks (or records JSONL)")
    pl.add_argument("inputs", nargs="+", help="files, folders, globs, .jsonl, or - for stdin")
    pl.add_argument("-o", "--out", required=True)
    pl.add_argument("--format", choices=["label-studio", "jsonl", "markup"], default="label-studio")
    pl.set_defaults(func=cmd_prelabel)

    st = asub.add_parser("stats", help="counts for a data card: documents, characters, entities and relations per label")
    st.add_argument("data", help="Label Studio export or records JSONL")
    st.add_argument("--markdown", action="store_true", help="print Markdown tables instead of JSON")
    st.set_defaults(func=cmd_stats)

    ag = asub.add_parser("agreement", help="entity and relation F1 between two annotations of the same documents")
    ag.add_argument("first", help="export, JSONL or markup (.ann) of the first pass")
    ag.add_argument("second", help="the second pass, same form")
    ag.add_argument("--markdown", action="store_true")
    ag.set_defaults(func=cmd_agreement)

    mt = asub.add_parser("materialize", help="a gold export with every stand-off text filled in from the corpus, "
                                             "ready to import into Label Studio (never commit it)")
    mt.add_argument("export")
    mt.add_argument("-o", "--out", required=True)
    mt.set_defaults(func=cmd_materialize)

    cs = asub.add_parser("consistency", help="same surface, same decision; every figure beside a programme considered: "
                                             "a list of places to look")
    cs.add_argument("data", help="export, JSONL or SPLIT.json:PART")
    cs.add_argument("--markdown", action="store_true", help="a Markdown table instead of JSON lines")
    cs.set_defaults(func=cmd_consistency)

    lr = asub.add_parser("learn-rules", help="measure the programme lexicon and patterns on gold (the train split only) "
                                             "and write what it teaches: new names, figure-owner-only names, dropped suffixes")
    lr.add_argument("data", help="gold to learn from: SPLIT.json:train (dev and test parts are refused)")
    lr.add_argument("-o", "--out", default=None,
                    help="file to write (default: configs/programmes-learned.yaml, which the rule tagger reads)")
    lr.add_argument("--min-precision", type=float, default=0.3,
                    help="keep a cue right at least this often; add a name tagged at least this often (default 0.3)")
    lr.add_argument("--min-tagged", type=int, default=2, help="a new name must be tagged this many times (default 2)")
    lr.add_argument("--min-hits", type=int, default=5, help="a cue is judged on at least this many hits (default 5)")
    lr.set_defaults(func=cmd_learn_rules)

    ps = asub.add_parser("passages", help="choose corpus passages for gold annotation; write their manifest, "
                                          "texts and the frozen split")
    ps.add_argument("--config", default=None, help="selection config (default: configs/passages.yaml)")
    ps.add_argument("-o", "--out", help="manifest to write (JSONL, one passage per line)")
    ps.add_argument("--manifest", action="append", default=[],
                    help="an existing manifest to read instead of selecting again (repeatable)")
    ps.add_argument("--texts", help="folder to write each passage's text into, as <id>.txt")
    ps.add_argument("--corpus", help="corpus folder (default: the config's corpus_dir, or $MZIE_CORPUS)")
    ps.add_argument("--split", help="split file to write (refuses to replace an existing one: the split is frozen)")
    ps.add_argument("--near-duplicates", action="store_true",
                    help="put passages that share text (≥ 100 characters) into one part of --split: the most held-out "
                         "part any of them is in")
    ps.add_argument("--extend-split", action="store_true",
                    help="add this manifest's passages to an existing --split by the same stratified rule, "
                         "leaving every earlier assignment as it is")
    ps.add_argument("--test", type=float, default=0.22, help="fraction of each stratum for test (default 0.22)")
    ps.add_argument("--dev", type=float, default=0.12, help="fraction of each stratum for dev (default 0.12)")
    ps.add_argument("--train-only", default="annotation/data/gold/seeds.json",
                    help="export whose documents always go to train (default: the seed gold)")
    ps.add_argument("--gold-export", default="corpus.json",
                    help="file name, beside the split file, of the passages' gold export (default corpus.json)")
    ps.set_defaults(func=cmd_passages)

    mk = asub.add_parser("markup", help="convert between inline markup files and a Label Studio export")
    mk.add_argument("inputs", nargs="+", help="markup files (*.ann) to import, or one export/JSONL to write as markup")
    mk.add_argument("-o", "--out", required=True, help="export JSON (importing) or folder (writing markup)")
    mk.add_argument("--text-dir", help="when importing: folder of the original texts; each markup must reproduce "
                                       "its text exactly (matched by file stem prefix)")
    mk.add_argument("--meta", help="when importing: JSON file mapping doc id → meta fields")
    mk.add_argument("--manifest", action="append", default=[], help="when importing (repeatable): passage manifest (mzie annotate passages); its passages get "
                                       "their provenance in meta, and stand-off ones are stored without text")
    mk.set_defaults(func=cmd_markup)


def cmd_config(args: argparse.Namespace) -> int:
    from minzheng_ie.core.schema import checked_labeling_config, load_schema

    sys.stdout.write(checked_labeling_config(load_schema(args.schema)))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_export

    report = validate_export(args.export)
    for issue in report.issues:
        if args.json:
            print(json.dumps({"task": issue.task, "severity": issue.severity, "code": issue.code,
                              "message": issue.message}, ensure_ascii=False))
        else:
            print(issue)
    n_ent = sum(len(d.entities) for d in report.docs)
    n_rel = sum(len(d.relations) for d in report.docs)
    summary = (f"{args.export}: {len(report.docs)} labelled task(s), {n_ent} entities, {n_rel} relations; "
               f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if report.unlabelled:
        summary += f"; {len(report.unlabelled)} task(s) without annotations: {', '.join(report.unlabelled[:10])}"
    print(summary, file=sys.stderr)
    return 1 if report.errors else 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import SplitSpec, convert_export

    report, split = convert_export(args.export, args.out, SplitSpec(args.seed, args.dev, args.test),
                                   args.skip_invalid)
    for issue in report.issues:
        log.warning("%s", issue)
    print(f"{args.out}: train {len(split['train'])}, dev {len(split['dev'])}, test {len(split['test'])} documents")
    return 1 if report.errors else 0


def cmd_prelabel(args: argparse.Namespace) -> int:
    from minzheng_ie.inference.cli import progress_bar
    from minzheng_ie.inference.tag import tag_inputs

    return tag_inputs(args.inputs, args.out, model="rules", fmt=args.format, progress=progress_bar(args))


def cmd_stats(args: argparse.Namespace) -> int:
    from .convert import load_docs
    from .stats import corpus_stats, stats_markdown

    stats = corpus_stats(load_docs(args.data))
    print(stats_markdown(stats) if args.markdown else json.dumps(stats, ensure_ascii=False, indent=2))
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    """F1 of one pass against the other is symmetric: P and R swap when the roles do."""
    from minzheng_ie.eval.spans import metrics_markdown, score

    from minzheng_ie.core.schema import load_schema

    def load(path: str):
        from . import markup
        from .convert import load_docs

        if path.endswith(".ann"):
            return [markup.parse(Path(path).read_text(encoding="utf-8"), "doc", path)]
        return load_docs(path)

    first, second = load(args.first), load(args.second)
    if [d.text for d in first] != [d.text for d in second]:
        raise InputError(f"{args.first} and {args.second} do not hold the same texts in the same order")
    for a, b in zip(first, second):
        b.id = a.id
    schema = load_schema()
    m = score(first, second, schema.entity_labels, schema.relation_labels)
    if args.markdown:
        print(metrics_markdown(m, f"Agreement: {args.second} against {args.first}"))
    else:
        print(json.dumps({"entities": m["entities"], "relations": m["relations"]}, ensure_ascii=False, indent=2))
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    from minzheng_ie.core.record import write_text_atomic

    from .labelstudio import load_export

    tasks = load_export(args.export)  # reading resolves every text_ref against the corpus
    for t in tasks:
        t.get("data", {}).pop("text_ref", None)
    write_text_atomic(Path(args.out), json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    print(f"{args.out}: {len(tasks)} task(s), texts filled in")
    return 0


def cmd_consistency(args: argparse.Namespace) -> int:
    from .consistency import findings, findings_markdown
    from .convert import load_docs

    found = findings(load_docs(args.data))
    if args.markdown:
        print(findings_markdown(found))
    else:
        for f in found:
            print(json.dumps(f.to_json(), ensure_ascii=False))
    return 0


def cmd_learn_rules(args: argparse.Namespace) -> int:
    import yaml

    from .convert import load_docs
    from .rules.learn import LearnSettings, learn_rules
    from .rules.programmes import LEARNED
    from minzheng_ie.core.record import write_text_atomic
    from minzheng_ie.core.schema import config_path

    if str(args.data).endswith((":dev", ":test", ":all")):
        raise InputError(f"{args.data}: the rules may learn from the train part only (the dev part chooses, the "
                         f"test part measures); pass {str(args.data).rpartition(':')[0]}:train")
    if not 0 < args.min_precision < 1:
        raise InputError(f"--min-precision {args.min_precision}: give a fraction between 0 and 1, e.g. 0.3")
    settings = LearnSettings(args.min_precision, args.min_tagged, args.min_hits)
    learnt = learn_rules(load_docs(args.data), settings, source=str(args.data))
    out = Path(args.out) if args.out else config_path(LEARNED)
    head = ("# Written by `mzie annotate learn-rules " + str(args.data) + "` (annotation/rules/learn.py): what the\n"
            "# gold's train split teaches the programme rules, with the evidence for each entry. Do not edit:\n"
            "# correct the gold or configs/programmes.yaml and rerun. Delete this file to use the hand rules alone.\n")
    write_text_atomic(out, head + yaml.safe_dump(learnt, allow_unicode=True, sort_keys=False, width=100))
    print(f"{out}: {len(learnt['names'])} names, {len(learnt['figure_owner_only'])} figure-owner-only names, "
          f"{len(learnt['dropped_suffixes'])} dropped suffixes, {len(learnt['weak_followers'])} weak followers, "
          f"from {learnt['documents']} documents")
    return 0


def cmd_passages(args: argparse.Namespace) -> int:
    import os

    from . import passages as P
    from minzheng_ie.core.config import load_config
    from minzheng_ie.core.record import write_text_atomic
    from minzheng_ie.core.schema import config_path

    cfg = load_config(P.PassageConfig, args.config or config_path("passages.yaml"))
    corpus = args.corpus or os.environ.get("MZIE_CORPUS") or cfg.corpus_dir
    if args.manifest:
        manifest = [p for m in args.manifest for p in P.read_manifest(m)]
    else:
        if not args.out:
            raise InputError("give -o MANIFEST to select passages, or --manifest MANIFEST to reuse a selection")
        from dataclasses import replace

        chosen = P.select(replace(cfg, corpus_dir=corpus))
        P.write_manifest(chosen, args.out)
        manifest = [p.to_json() for p in chosen]
        print(f"{args.out}: {len(manifest)} passages, {sum(p['chars'] for p in manifest)} characters")
    if args.texts:
        out = Path(args.texts)
        out.mkdir(parents=True, exist_ok=True)
        cache: dict = {}
        for p in manifest:
            write_text_atomic(out / f"{p['id']}.txt", P.passage_text(p, corpus, cache))
        print(f"{out}: {len(manifest)} texts")
    if args.split:
        from .convert import load_docs

        split_path = Path(args.split)
        chars = {p["id"]: p["chars"] for p in manifest}
        if args.near_duplicates:
            body = json.loads(split_path.read_text(encoding="utf-8"))
            cache: dict = {}
            texts = {p["id"]: P.passage_text(p, corpus, cache) for p in manifest}
            moves = P.keep_duplicates_together(body, P.near_duplicate_groups(texts))
            chars = {p["id"]: p["chars"] for p in manifest}
            chars.update({d.id: len(d.text) for d in (load_docs(args.train_only) if args.train_only else [])})
            body["characters"] = {k: sum(chars.get(i, 0) for i in body[k]) for k in ("train", "dev", "test")}
            body["near_duplicates_moved"] = body.get("near_duplicates_moved", []) + [
                {"id": i, "from": a, "to": b} for i, a, b in moves]
            body["how"] += ("; passages sharing ≥ 100 characters of text put into one part "
                            "(the most held-out part of any of them)")
            for i, a, b in moves:
                print(f"{i}: {a} → {b}")
        elif args.extend_split:
            if not split_path.exists():
                raise InputError(f"--extend-split: {split_path} does not exist; write it first with --split")
            body = json.loads(split_path.read_text(encoding="utf-8"))
            known = {i for k in ("train", "dev", "test") for i in body[k]}
            if known & set(chars):
                raise InputError(f"{split_path} already holds {len(known & set(chars))} of these passages; "
                                 f"an assignment in a frozen split is never changed")
            split = P.split_passages(manifest, cfg.seed, args.test, args.dev)
            for k in ("train", "dev", "test"):
                body["characters"][k] += sum(chars[i] for i in split[k])
                body[k] = body[k] + split[k]
            body["how"] += (f"; extended with {', '.join(args.manifest) or args.out} by the same rule "
                            f"(test {args.test}, dev {args.dev})")
        else:
            if split_path.exists():
                raise InputError(f"{split_path} exists: the split is frozen once written; delete it by hand only "
                                 f"if nothing has learned from the gold yet")
            train_only = [d.id for d in load_docs(args.train_only)] if args.train_only else []
            split = P.split_passages(manifest, cfg.seed, args.test, args.dev, train_only)
            body = {"how": f"mzie annotate passages --split (seed {cfg.seed}, test {args.test}, dev {args.dev}; "
                           f"stratified by source and script; {args.train_only} always train)",
                    "exports": ([Path(args.train_only).name] if args.train_only else []) + [args.gold_export],
                    **split,
                    "characters": {k: sum(chars.get(i, 0) for i in v) for k, v in split.items()}}
        write_text_atomic(split_path, json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        print(f"{split_path}: " + ", ".join(f"{k} {len(body[k])} documents" for k in ("train", "dev", "test")))
    return 0


def cmd_markup(args: argparse.Namespace) -> int:
    from . import markup
    from .convert import load_docs
    from minzheng_ie.core.record import Meta

    if all(p.endswith(".ann") for p in args.inputs):
        from .labelstudio import doc_to_task
        from .passages import read_manifest, to_standoff
        from minzheng_ie.core.record import write_text_atomic

        metas = json.loads(Path(args.meta).read_text(encoding="utf-8")) if args.meta else {}
        passages = {p["id"]: p for m in args.manifest for p in read_manifest(m)}
        tasks = []
        for n, p in enumerate(args.inputs, 1):
            path = Path(p)
            doc = markup.parse(path.read_text(encoding="utf-8"), path.stem, str(path))
            if args.text_dir:
                originals = sorted(Path(args.text_dir).glob(path.stem + "*"))
                if not originals:
                    raise InputError(f"{path}: no original text named {path.stem}* in {args.text_dir}")
                original = originals[0]
                if original.read_text(encoding="utf-8") != doc.text:
                    raise InputError(f"{path}: the text with markup removed differs from {original}; "
                                     f"markup must only add [[…]] and #rel lines")
                doc.id = original.stem
            doc.meta = Meta.from_json(metas.get(doc.id, {}))
            passage = passages.get(doc.id)
            if passage:
                doc.meta.extra["corpus"] = {k: passage.get(k) for k in
                                            ("file", "level", "kind", "script", "opencc", "title")}
                doc.meta.extra["corpus"]["records"] = [s["key"] for s in passage["segments"]]
            task = doc_to_task(doc, "gold", as_annotation=True)
            task["id"] = n  # numbered as Label Studio numbers an export's tasks
            tasks.append(to_standoff(task, passage) if passage and passage.get("standoff") else task)
        write_text_atomic(Path(args.out), json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        print(f"{args.out}: {len(tasks)} task(s) with annotations"
              + (f", {sum('text_ref' in t['data'] for t in tasks)} stored stand-off" if passages else ""))
        return 0
    if len(args.inputs) != 1:
        raise InputError("to write markup, give one export or JSONL file; to import, give only *.ann files")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for doc in load_docs(args.inputs[0]):
        (out / f"{doc.id}.ann").write_text(markup.to_markup(doc), encoding="utf-8")
    print(f"{out}: markup written")
    return 0
