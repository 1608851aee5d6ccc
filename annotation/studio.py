"""The Label Studio loop against a running server: project set-up, pushing pre-annotated
tasks, pulling a full export, and the review list of human-versus-model disagreements.

Talks to Label Studio through label-studio-sdk 2.x. The API key never leaves the client
object: it is not printed, logged or put into an error message (`Settings.__repr__`
hides it and `_redacted` scrubs server answers before they are quoted).
"""
from __future__ import annotations

import html
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from minzheng_ie.core.errors import InputError
from .labelstudio import read_tasks, task_score, to_doc
from minzheng_ie.core.record import Doc, write_text_atomic
from minzheng_ie.core.schema import Schema, checked_labeling_config, load_schema

log = logging.getLogger(__name__)

DEFAULT_TITLE = "minzheng-ie 民政报告"
CONFIG_ENV = "MZIE_LS_CONFIG"
EXPORT_TIMEOUT = 120.0  # seconds to wait for a snapshot export to finish


# -- connection settings -------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Where the server is and which project to use. `api_key` is hidden from repr."""

    url: str
    api_key: str = field(repr=False)
    project: str | None = None  # project id or exact title; None: DEFAULT_TITLE
    guidelines_url: str | None = None  # where the annotator guideline can be read, linked from the instructions
    source: str = ""  # where the settings came from, for messages

    @property
    def project_title(self) -> str:
        return self.project if self.project and not self.project.isdigit() else DEFAULT_TITLE


def default_config_path(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "minzheng-ie" / "labelstudio.yaml"


def _read_config_file(path: Path, explicit: bool) -> dict:
    from minzheng_ie.core.config import read_yaml

    if not path.exists():
        if explicit:
            raise InputError(f"{path}: no such Label Studio config file; check --config (keys: url, api_key, project)")
        return {}
    data = read_yaml(path)
    unknown = sorted(set(data) - {"url", "api_key", "project", "guidelines_url"})
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: url, api_key, project, guidelines_url")
    return {k: str(v) for k, v in data.items() if v is not None}


def load_settings(config: str | None = None, url: str | None = None, project: str | None = None,
                  env: dict[str, str] | None = None, need_key: bool = True) -> Settings:
    """Settings by precedence: command-line values, then the environment (LABEL_STUDIO_URL,
    LABEL_STUDIO_API_KEY, LABEL_STUDIO_PROJECT), then the config file (--config, $MZIE_LS_CONFIG,
    or ~/.config/minzheng-ie/labelstudio.yaml)."""
    env = dict(os.environ) if env is None else env
    explicit = config or env.get(CONFIG_ENV)
    path = Path(explicit) if explicit else default_config_path(env)
    file_values = _read_config_file(path, bool(explicit))
    sources = []

    def pick(cli_value: str | None, env_name: str, key: str) -> str | None:
        for value, origin in ((cli_value, "command line"), (env.get(env_name), env_name), (file_values.get(key), str(path))):
            if value:
                sources.append(f"{key} from {origin}")
                return value.strip()
        return None

    base = pick(url, "LABEL_STUDIO_URL", "url")
    key = pick(None, "LABEL_STUDIO_API_KEY", "api_key")
    proj = pick(project, "LABEL_STUDIO_PROJECT", "project")
    guide = pick(None, "MZIE_GUIDELINES_URL", "guidelines_url")
    if not base:
        raise InputError(f"no Label Studio URL: set LABEL_STUDIO_URL (e.g. http://127.0.0.1:8080), pass --url, "
                         f"or put url: in {path}")
    if not base.startswith(("http://", "https://")):
        raise InputError(f"Label Studio URL {base!r} must start with http:// or https://")
    if need_key and not key:
        raise InputError(f"no Label Studio API key: set LABEL_STUDIO_API_KEY to the token from Label Studio's "
                         f"Account & Settings page, or put api_key: in {path}")
    return Settings(base.rstrip("/"), key or "", proj, guide, "; ".join(sources))


# -- the client and its errors ----------------------------------------------------------

def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


@contextmanager
def api_errors(settings: Settings, doing: str) -> Iterator[None]:
    """Turn transport and HTTP failures into one InputError sentence that names the URL and the fix."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    url = settings.url
    try:
        yield
    except httpx.ConnectError:
        raise InputError(f"cannot connect to Label Studio at {url} while {doing} (connection refused or host "
                         f"unreachable); start the server or fix LABEL_STUDIO_URL") from None
    except httpx.TimeoutException:
        raise InputError(f"Label Studio at {url} did not answer in time while {doing}; check the server is "
                         f"running and not overloaded") from None
    except ApiError as exc:
        code = exc.status_code
        if code == 401:
            raise InputError(f"Label Studio at {url} refused the API key (HTTP 401) while {doing}; set "
                             f"LABEL_STUDIO_API_KEY to the legacy token shown under Account & Settings "
                             f"(legacy tokens must be enabled)") from None
        detail = _redacted(_detail(exc.body), settings.api_key)
        hint = ""
        if "reserved network address" in detail:
            hint = ("; Label Studio blocks local addresses unless it is started with ML_BLOCK_LOCAL_IP=false "
                    "and SSRF_PROTECTION_ENABLED=false")
        elif code == 403:
            hint = "; the user of this API key lacks permission for it"
        raise InputError(f"Label Studio at {url} answered HTTP {code} while {doing}: {detail}{hint}") from None


def _detail(body: Any) -> str:
    """The server's own explanation from an error body, short."""
    if isinstance(body, dict):
        body = body.get("detail") or body.get("validation_errors") or body
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return text[:300]


def connect(settings: Settings, timeout: float = 60.0):
    """A client for `settings`, checked with one cheap authenticated call."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=settings.url, api_key=settings.api_key, timeout=timeout, max_retries=0)
    with api_errors(settings, "checking the API key"):
        client.users.whoami()
    return client


def find_project(client, settings: Settings):
    """The project named by settings.project (id or exact title), or None when no project has that title."""
    with api_errors(settings, "looking up the project"):
        if settings.project and settings.project.isdigit():
            return client.projects.get(id=int(settings.project))
        title = settings.project_title
        for p in client.projects.list():
            if p.title == title:
                return p
    return None


def require_project(client, settings: Settings):
    project = find_project(client, settings)
    if project is None:
        raise InputError(f"no project titled {settings.project_title!r} at {settings.url}; run `mzie ls init` first "
                         f"or pass --project ID")
    return project


# -- init ---------------------------------------------------------------------------

def instructions_html(schema: Schema, guidelines_url: str | None) -> str:
    """The instructions Label Studio shows above each task: the essentials, and where the guideline is."""
    guide = (f'<a href="{html.escape(guidelines_url)}" target="_blank">annotation/GUIDELINES.md</a>'
             if guidelines_url else "<code>annotation/GUIDELINES.md</code> in the minzheng-ie repository")
    labels = ", ".join(f"{name} {e.zh} ({e.hotkey})" if e.hotkey else f"{name} {e.zh}"
                       for name, e in schema.entities.items())
    rels = ", ".join(f"{name}: {'/'.join(r.head)} → {'/'.join(r.tail)}" for name, r in schema.relations.items())
    return (f"<p>Follow the annotator guideline, {guide}: its §2 span rules and §8 checklist.</p>"
            f"<ul><li>Labels: {html.escape(labels)}.</li>"
            f"<li>Relations, drawn <b>from the programme</b> to the other entity: {html.escape(rels)}.</li>"
            f"<li>Relations stay within one sentence; spans never overlap.</li>"
            f"<li>Work least-confident first: sort the task list by <code>uncertainty</code> (descending).</li></ul>")


def init_project(client, settings: Settings, schema: Schema | None = None) -> tuple[Any, bool]:
    """Create the project, or bring an existing one up to date with the schema. Returns (project, created)."""
    schema = schema or load_schema()
    fields = dict(
        label_config=checked_labeling_config(schema),
        expert_instruction=instructions_html(schema, settings.guidelines_url),
        show_instruction=True,
        show_collab_predictions=True,  # pre-annotations (pushed or from the ML backend) appear when a task opens
        description="Regions, programmes, amounts, counts and standards in civil-affairs reports, and their relations.",
    )
    existing = find_project(client, settings)
    with api_errors(settings, "creating or updating the project"):
        if existing is None:
            project = client.projects.create(title=settings.project_title, **fields)
            log.info("created project %s %r", project.id, project.title)
            return project, True
        client.projects.update(id=existing.id, **fields)
        log.info("updated project %s %r", existing.id, existing.title)
        return client.projects.get(id=existing.id), False


def connect_backend(client, settings: Settings, project_id: int, backend_url: str, title: str = "minzheng-ie"):
    """Attach an ML backend (`mzie serve-backend`) to the project, or reuse the one already at that URL."""
    with api_errors(settings, f"connecting the ML backend {backend_url}"):
        for backend in client.ml.list(project=project_id):
            if backend.url.rstrip("/") == backend_url.rstrip("/"):
                return backend
        backend = client.ml.create(project=project_id, url=backend_url, title=title, is_interactive=False)
    log.info("connected ML backend %s to project %s", backend_url, project_id)
    return backend


# -- push ---------------------------------------------------------------------------

def uncertainty(doc: Doc) -> float:
    """1 - mean entity score; a document where the model found nothing is the least certain of all."""
    score = task_score(doc)
    return 1.0 if score is None else round(1.0 - score, 4)


def _bigrams(text: str) -> frozenset[str]:
    chars = [c for c in text if not c.isspace()]
    return frozenset(a + b for a, b in zip(chars, chars[1:]))


def _distance(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


def select_docs(docs: list[Doc], n: int, by: str) -> list[Doc]:
    """The `n` most useful documents to label next.

    uncertainty: the least confident first. diversity: start from the least confident, then
    repeatedly take the document whose character bigrams are farthest (Jaccard) from every
    document taken so far, so near-duplicate reports from one template are not all pushed.
    """
    if n < 1:
        raise InputError(f"--select {n}: choose at least one document")
    ranked = sorted(docs, key=lambda d: (-uncertainty(d), d.id))
    if by == "uncertainty" or n >= len(docs):
        return ranked[:n]
    if by != "diversity":
        raise InputError(f"--by {by!r}: choose uncertainty or diversity")
    grams = {id(d): _bigrams(d.text) for d in ranked}
    chosen = [ranked[0]]
    nearest = {id(d): _distance(grams[id(d)], grams[id(ranked[0])]) for d in ranked[1:]}
    rest = ranked[1:]
    while len(chosen) < n and rest:
        best = max(rest, key=lambda d: (nearest[id(d)], uncertainty(d)))  # ties: the less certain one
        chosen.append(best)
        rest.remove(best)
        for d in rest:
            nearest[id(d)] = min(nearest[id(d)], _distance(grams[id(d)], grams[id(best)]))
    return chosen


def build_tasks(docs: Iterable[Doc], model_version: str, schema: Schema | None = None) -> list[dict]:
    """Label Studio tasks with the model's prediction and an `uncertainty` column to sort by."""
    from .labelstudio import doc_to_task

    schema = schema or load_schema()
    tasks = []
    for doc in docs:
        task = doc_to_task(doc, model_version, schema)
        task["data"]["uncertainty"] = uncertainty(doc)
        tasks.append(task)
    return tasks


def existing_doc_ids(client, settings: Settings, project_id: int) -> set[str]:
    with api_errors(settings, "listing the project's tasks"):
        return {str((t.data or {}).get("doc_id")) for t in client.tasks.list(project=project_id, fields="task_only")
                if (t.data or {}).get("doc_id") is not None}


def push_tasks(client, settings: Settings, project_id: int, tasks: list[dict]) -> list[int]:
    """Import tasks (with predictions) into the project; the ids of the new tasks."""
    if not tasks:
        return []
    with api_errors(settings, f"importing {len(tasks)} task(s)"):
        resp = client.projects.import_tasks(id=project_id, request=tasks, return_task_ids=True)
        model_versions = {p["model_version"] for t in tasks for p in t.get("predictions", [])}
        if len(model_versions) == 1:
            # Label Studio shows an annotator the predictions of the project's current model version.
            client.projects.update(id=project_id, model_version=model_versions.pop())
    ids = list(getattr(resp, "task_ids", None) or [])
    log.info("imported %d task(s) into project %s", getattr(resp, "task_count", len(tasks)), project_id)
    return ids


# -- pull ---------------------------------------------------------------------------

def export_snapshot(client, settings: Settings, project_id: int, timeout: float = EXPORT_TIMEOUT) -> bytes:
    """The project as Label Studio's JSON export, through the snapshot API so that predictions are
    full objects (the plain export lists them as ids only)."""
    with api_errors(settings, f"exporting project {project_id}"):
        snap = client.projects.exports.create(
            id=project_id, title="mzie ls pull",
            serialization_options={"predictions": {"only_id": False}, "drafts": {"only_id": True},
                                   "annotations__completed_by": {"only_id": True}},
        )
        deadline = time.monotonic() + timeout
        while snap.status != "completed":
            if snap.status == "failed":
                raise InputError(f"Label Studio at {settings.url} failed to build the export of project "
                                 f"{project_id}; see the server log, then run `mzie ls pull` again")
            if time.monotonic() > deadline:
                raise InputError(f"the export of project {project_id} at {settings.url} was not ready after "
                                 f"{timeout:.0f} s (status {snap.status!r}); try again later")
            time.sleep(0.5)
            snap = client.projects.exports.get(id=project_id, export_pk=snap.id)
        return b"".join(client.projects.exports.download(id=project_id, export_pk=snap.id, export_type="JSON"))


def pull_export(client, settings: Settings, project_id: int, out: str | Path) -> int:
    """Write the snapshot export to `out`; the number of tasks in it."""
    raw = export_snapshot(client, settings, project_id)
    try:
        tasks = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the export from {settings.url} (project {project_id}) is not JSON ({exc}); "
                         f"check the server version") from None
    if not isinstance(tasks, list):
        raise InputError(f"the export from {settings.url} (project {project_id}) is not a list of tasks")
    write_text_atomic(out, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    log.info("exported %d task(s) of project %s to %s", len(tasks), project_id, out)
    return len(tasks)


# -- review -------------------------------------------------------------------------

KINDS = ("missed", "extra", "boundary", "type", "relation")


@dataclass
class Disagreement:
    kind: str  # one of KINDS
    message: str  # human-readable: what the annotator has and what the model has
    start: int = 0  # where in the text, for sorting


@dataclass
class TaskReview:
    task: str
    doc_id: str
    model_version: str | None
    items: list[Disagreement]


def _prediction_of(task: dict, model_version: str | None) -> dict | None:
    """The prediction to compare against: of the given model version, else the newest. A plain JSON
    export lists predictions as ids only; then the one the annotation started from is used."""
    from .labelstudio import choose_annotation

    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict) and isinstance(p.get("result"), list)]
    if not preds:
        chosen, _ = choose_annotation(task)
        started_from = (chosen or {}).get("prediction")
        if isinstance(started_from, dict) and isinstance(started_from.get("result"), list):
            preds = [started_from]
    if model_version:
        preds = [p for p in preds if p.get("model_version") == model_version]
    if not preds:
        return None
    return max(preds, key=lambda p: (str(p.get("updated_at") or p.get("created_at") or ""), p.get("id") or 0))


def _as_doc(task: dict, result: list, schema: Schema) -> Doc | None:
    """A record from one result list, read exactly as `annotate validate` reads annotations."""
    reading = read_tasks([{"id": task.get("id"), "data": task.get("data"), "annotations": [{"id": 0, "result": result}]}],
                         schema)
    return to_doc(reading.tasks[0], reading.issues) if reading.tasks else None


def compare(human: Doc, model: Doc) -> list[Disagreement]:
    """Where the model's prediction differs from the human annotation: the error kinds of
    eval/errors.py, folded into the four an annotator acts on (type, boundary, missed, extra)."""
    from minzheng_ie.eval.errors import classify
    from minzheng_ie.eval.spans import entity_spans, relation_keys

    text = human.text
    out: list[Disagreement] = []

    def show(span: tuple[int, int, str]) -> str:
        return f"{span[2]} {text[span[0]:span[1]]!r} [{span[0]}:{span[1]}]"

    for e in classify(human.id, entity_spans(human), entity_spans(model)):
        g, p = e.gold, e.pred
        if e.kind == "wrong_type":
            out.append(Disagreement("type", f"annotator {show(g)}; model labelled it {p[2]}", g[0]))
        elif e.kind == "missed":
            out.append(Disagreement("missed", f"annotator {show(g)}; the model has nothing there", g[0]))
        elif e.kind == "spurious":
            out.append(Disagreement("extra", f"model {show(p)} (score {_score_of(model, p)}); the annotator has "
                                             f"nothing there", p[0]))
        else:  # too long, too short, shifted, or another label and span
            out.append(Disagreement("boundary", f"annotator {show(g)}; model {show(p)}", g[0]))
    gold_rel, pred_rel = set(relation_keys(human)), set(relation_keys(model))

    def show_rel(r: tuple) -> str:
        return f"{text[r[0][0]:r[0][1]]!r} -{r[2]}-> {text[r[1][0]:r[1][1]]!r}"

    for r in sorted(gold_rel - pred_rel):
        out.append(Disagreement("relation", f"annotator {show_rel(r)}; the model does not", r[0][0]))
    for r in sorted(pred_rel - gold_rel):
        out.append(Disagreement("relation", f"model {show_rel(r)}; the annotator does not", r[0][0]))
    out.sort(key=lambda d: (d.start, KINDS.index(d.kind)))
    return out


def _score_of(doc: Doc, span: tuple[int, int, str]) -> str:
    for e in doc.entities:
        if e.span == span and e.score is not None:
            return f"{e.score:.2f}"
    return "n/a"


def review_tasks(tasks: list[dict], schema: Schema | None = None, model_version: str | None = None
                 ) -> tuple[list[TaskReview], list[str]]:
    """(reviews of labelled tasks that have a prediction, ids of labelled tasks without one)."""
    schema = schema or load_schema()
    reading = read_tasks(tasks, schema)
    by_id = {str(t.get("id", f"#{n}")): t for n, t in enumerate(tasks)}
    reviews, no_prediction = [], []
    for ta in reading.tasks:
        task = by_id[ta.task_id]
        pred = _prediction_of(task, model_version)
        if pred is None:
            no_prediction.append(ta.task_id)
            continue
        human = to_doc(ta, reading.issues)
        model = _as_doc(task, pred["result"], schema)
        if human is None or model is None:
            continue
        reviews.append(TaskReview(ta.task_id, ta.doc_id, pred.get("model_version"), compare(human, model)))
    reviews.sort(key=lambda r: (-len(r.items), r.task))
    return reviews, no_prediction


def task_link(base_url: str, project_id: Any, task_id: str) -> str:
    return f"{base_url}/projects/{project_id}/data?task={task_id}"


def _counts(reviews: list[TaskReview]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for r in reviews:
        for d in r.items:
            counts[d.kind] += 1
    return counts


def review_markdown(reviews: list[TaskReview], base_url: str, project_id: Any, no_prediction: list[str]) -> str:
    counts = _counts(reviews)
    open_tasks = [r for r in reviews if r.items]
    lines = ["# Review: annotations against model predictions", "",
             f"{len(reviews)} labelled task(s) compared, {len(open_tasks)} with disagreements. "
             + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".", ""]
    if no_prediction:
        lines += [f"No prediction to compare for task(s) {', '.join(no_prediction)} (a plain JSON export lists "
                  f"predictions as ids only: use `mzie ls pull`).", ""]
    for r in open_tasks:
        link = task_link(base_url, project_id, r.task)
        lines += [f"## [Task {r.task}]({link}) · {r.doc_id} · {len(r.items)} disagreement(s) · model {r.model_version}",
                  ""]
        lines += [f"- **{d.kind}**: {d.message}" for d in r.items]
        lines.append("")
    return "\n".join(lines)


def review_html(reviews: list[TaskReview], base_url: str, project_id: Any, no_prediction: list[str]) -> str:
    esc = html.escape
    counts = _counts(reviews)
    open_tasks = [r for r in reviews if r.items]
    parts = ["<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>Review</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}li.missed{color:#b00}"
             "li.extra{color:#a60}li.boundary,li.type{color:#06a}li.relation{color:#607}</style></head><body>",
             "<h1>Review: annotations against model predictions</h1>",
             f"<p>{len(reviews)} labelled task(s) compared, {len(open_tasks)} with disagreements. "
             + esc(", ".join(f"{k} {v}" for k, v in counts.items())) + ".</p>"]
    if no_prediction:
        parts.append(f"<p>No prediction to compare for task(s) {esc(', '.join(no_prediction))}.</p>")
    for r in open_tasks:
        link = esc(task_link(base_url, project_id, r.task))
        parts.append(f"<h2><a href=\"{link}\">Task {esc(r.task)}</a> · {esc(r.doc_id)} · {len(r.items)} "
                     f"disagreement(s) · model {esc(str(r.model_version))}</h2><ul>")
        parts += [f"<li class=\"{d.kind}\"><b>{d.kind}</b>: {esc(d.message)}</li>" for d in r.items]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_review(tasks: list[dict], out: str | Path, base_url: str, project_id: Any = None,
                 model_version: str | None = None) -> tuple[list[TaskReview], Path, Path]:
    """Write OUT.md and OUT.html (same stem); the reviews, most disagreements first."""
    reviews, no_prediction = review_tasks(tasks, model_version=model_version)
    if project_id is None:  # an export names each task's project
        project_id = next((t.get("project") for t in tasks if t.get("project") is not None), "")
    out = Path(out)
    md, page = out.with_suffix(".md"), out.with_suffix(".html")
    write_text_atomic(md, review_markdown(reviews, base_url, project_id, no_prediction))
    write_text_atomic(page, review_html(reviews, base_url, project_id, no_prediction))
    return reviews, md, page

