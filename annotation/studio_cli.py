"""`mzie ls …` (the Label Studio loop) and `mzie serve-backend` (the live ML backend)."""
from __future__ import annotations

import argparse
import sys

from minzheng_ie.inference.cli import add_model_option


def register(sub: argparse._SubParsersAction) -> None:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--config", help="settings file (YAML: url, api_key, project, guidelines_url); default "
                                       "$MZIE_LS_CONFIG or ~/.config/minzheng-ie/labelstudio.yaml")
    conn.add_argument("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL, then the settings file)")
    conn.add_argument("--project", help="project id or title (default: $LABEL_STUDIO_PROJECT, the settings "
                                        "file, then the title 'minzheng-ie 民政报告')")

    p = sub.add_parser("ls", help="Label Studio loop: init a project, push pre-annotated tasks, pull, review. "
                                  "The API key comes from $LABEL_STUDIO_API_KEY or the settings file")
    lsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    i = lsub.add_parser("init", parents=[conn], help="create or update the project from configs/schema.yaml")
    i.add_argument("--backend", metavar="URL", help="also connect a running `mzie serve-backend` at URL")
    i.set_defaults(func=cmd_init)

    pu = lsub.add_parser("push", parents=[conn], help="import reports as tasks with the model's predictions")
    pu.add_argument("inputs", nargs="+", help="files, folders, globs, .jsonl, or - for stdin")
    add_model_option(pu)
    pu.add_argument("--select", type=int, metavar="N", help="push only the N most useful documents")
    pu.add_argument("--by", choices=["uncertainty", "diversity"], default="uncertainty",
                    help="how --select ranks documents (default: uncertainty)")
    pu.add_argument("--allow-duplicates", action="store_true",
                    help="push documents whose doc_id the project already has")
    pu.set_defaults(func=cmd_push)

    pl = lsub.add_parser("pull", parents=[conn], help="export the project (full predictions and annotations) "
                                                      "and validate it as `mzie annotate validate` does")
    pl.add_argument("-o", "--out", required=True, help="export file to write (JSON)")
    pl.add_argument("--json", action="store_true", help="print problems as JSON lines")
    pl.set_defaults(func=cmd_pull)

    rv = lsub.add_parser("review", parents=[conn], help="where annotations and the model disagree, per task, "
                                                        "as Markdown and HTML with links to the tasks")
    rv.add_argument("-o", "--out", default="review.md", help="report path; writes OUT.md and OUT.html "
                                                             "(default review.md)")
    rv.add_argument("--export", help="review this export file instead of pulling one from the server")
    rv.add_argument("--model-version", help="compare against predictions of this model version "
                                            "(default: each task's newest prediction)")
    rv.set_defaults(func=cmd_review)

    sb = sub.add_parser("serve-backend", help="serve a model as a Label Studio ML backend (health, setup, predict)")
    add_model_option(sb)
    sb.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sb.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    sb.set_defaults(func=cmd_serve_backend)


def _settings(args: argparse.Namespace, need_key: bool = True):
    import logging

    from .studio import load_settings

    if not args.verbose:  # one line per HTTP request is noise unless debugging
        logging.getLogger("httpx").setLevel(logging.WARNING)

    return load_settings(args.config, args.url, args.project, need_key=need_key)


def cmd_init(args: argparse.Namespace) -> int:
    from .studio import connect, connect_backend, init_project

    settings = _settings(args)
    client = connect(settings)
    project, created = init_project(client, settings)
    print(f"{'created' if created else 'updated'} project {project.id} {project.title!r}: "
          f"{settings.url}/projects/{project.id}")
    if args.backend:
        backend = connect_backend(client, settings, project.id, args.backend)
        print(f"ML backend {args.backend} connected (id {backend.id}, state {backend.state})")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    import logging

    from minzheng_ie.inference.cli import progress_bar
    from minzheng_ie.inference.tag import load_tagger, tag_docs

    from minzheng_ie.core.readers import read_inputs
    from .studio import build_tasks, connect, existing_doc_ids, push_tasks, require_project, select_docs

    log = logging.getLogger("minzheng_ie")
    settings = _settings(args)
    client = connect(settings)  # fail fast, before tagging anything
    project = require_project(client, settings)
    tagger = load_tagger(args.model)
    docs, failed = tag_docs(read_inputs(args.inputs), tagger, progress_bar(args))
    if not args.allow_duplicates:
        have = existing_doc_ids(client, settings, project.id)
        dupes = [d.id for d in docs if d.id in have]
        if dupes:
            log.warning("%d document(s) already in project %s, not pushed again: %s", len(dupes), project.id,
                        ", ".join(dupes[:10]))
        docs = [d for d in docs if d.id not in have]
    if args.select is not None:
        docs = select_docs(docs, args.select, args.by)
    ids = push_tasks(client, settings, project.id, build_tasks(docs, tagger.model_version))
    print(f"pushed {len(docs)} task(s) with {tagger.model_version} predictions to project {project.id}"
          + (f" (task ids {min(ids)}–{max(ids)})" if ids else "")
          + (f"; {len(failed)} input(s) could not be read" if failed else ""))
    for f in failed:
        print(f"  {f.source}: {f.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_pull(args: argparse.Namespace) -> int:
    from .cli import cmd_validate
    from .studio import connect, pull_export, require_project

    settings = _settings(args)
    client = connect(settings)
    project = require_project(client, settings)
    n = pull_export(client, settings, project.id, args.out)
    print(f"{args.out}: {n} task(s) exported from project {project.id}", file=sys.stderr)
    return cmd_validate(argparse.Namespace(export=args.out, json=args.json))


def cmd_review(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from .labelstudio import load_export
    from .studio import connect, pull_export, require_project, write_review

    if args.export:
        from minzheng_ie.core.errors import InputError

        try:
            settings = _settings(args, need_key=False)
        except InputError:
            settings = None  # no URL configured: the links are relative to the server root
        tasks = load_export(args.export)
        base = settings.url if settings else ""
        project_id = None
    else:
        settings = _settings(args)
        client = connect(settings)
        project = require_project(client, settings)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.json"
            pull_export(client, settings, project.id, path)
            tasks = load_export(path)
        base, project_id = settings.url, project.id
    reviews, md, page = write_review(tasks, args.out, base, project_id, args.model_version)
    n_open = sum(1 for r in reviews if r.items)
    print(f"{md} and {page}: {n_open} of {len(reviews)} labelled task(s) disagree with the model")
    return 0


def cmd_serve_backend(args: argparse.Namespace) -> int:
    from minzheng_ie.inference.backend import serve

    serve(args.model, args.host, args.port, log_level="warning" if args.quiet else "info")
    return 0
