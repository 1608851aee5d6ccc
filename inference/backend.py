"""`mzie serve-backend`: a Label Studio ML backend over HTTP, so annotators see live
pre-annotations for every task they open.

The protocol, as Label Studio 1.2x speaks it (label_studio/ml/api_connector.py):
- GET /health: any 200 answer means the backend is up.
- POST /setup {project, schema, hostname, access_token, extra_params}: answer
  {"model_version": ...}; an error status marks the backend as failed in the UI.
- POST /predict {tasks: [{id, data, ...}], project, label_config, params}: answer
  {"results": [{"result": [...], "score": s, "model_version": v}, ...]}, one per task, in
  order; each region in `result` may carry its own `score`.
- POST /webhook: Label Studio registers it for annotation events when a backend is added;
  training is not started from here (`mzie train` does that), so events are acknowledged.

The tagger loads once when the app is made; a lock serialises calls to it, because a
model is not guaranteed to be safe to call from several threads at once.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from minzheng_ie.annotation.labelstudio import doc_to_task
from minzheng_ie.core.record import Doc, Meta
from minzheng_ie.core.schema import Schema, load_schema

log = logging.getLogger(__name__)


class Predictor:
    """The tagger and the schema behind the endpoints; thread-safe."""

    def __init__(self, tagger, schema: Schema | None = None):
        self.tagger = tagger
        self.schema = schema or load_schema()
        self.model_version = str(tagger.model_version)
        self._lock = threading.Lock()

    def predict_task(self, task: dict) -> dict:
        """One Label Studio prediction for one task: regions and relations with scores, task score, version."""
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        text = data.get(self.schema.labeling.text_field)
        tid = task.get("id")
        if not isinstance(text, str) or not text:
            log.warning("task %s has no text in data.%s; returned an empty prediction",
                        tid, self.schema.labeling.text_field)
            return {"result": [], "model_version": self.model_version}
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        doc = Doc(str(data.get("doc_id") or f"task-{tid}"), text, meta=Meta.from_json(meta))
        try:
            with self._lock:
                tagged = self.tagger(doc)
        except (ValueError, RuntimeError, MemoryError) as exc:  # one task's failure must not fail the batch
            log.warning("tagging task %s failed: %s", tid, exc)
            return {"result": [], "model_version": self.model_version}
        return doc_to_task(tagged, self.model_version, self.schema)["predictions"][0]

    def config_problem(self, label_config: str | None) -> str | None:
        """Why a project's labeling config does not fit this backend, or None."""
        if not label_config:
            return None
        lab = self.schema.labeling
        needed = [f'name="{lab.labels_name}"', f'name="{lab.text_name}"']
        if not all(n in label_config for n in needed):
            return (f"the project's labeling config has no <Labels name=\"{lab.labels_name}\"> on "
                    f"<Text name=\"{lab.text_name}\">; set it with `mzie ls init`")
        return None


def create_app(model: str = "default", tagger=None, schema: Schema | None = None):
    """The FastAPI app. `tagger` (a callable Doc → Doc with .model_version) overrides `model`."""
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse

    if tagger is None:
        from .tag import load_tagger

        tagger = load_tagger(model)
    predictor = Predictor(tagger, schema)
    app = FastAPI(title="minzheng-ie ML backend", version=predictor.model_version)
    app.state.predictor = predictor

    @app.get("/health")
    @app.get("/")
    def health() -> dict:
        return {"status": "UP", "model_class": "minzheng-ie", "model_version": predictor.model_version}

    @app.post("/setup")
    def setup(body: dict[str, Any] = Body(default_factory=dict)):
        # body also carries the project owner's access_token: deliberately never logged or stored
        problem = predictor.config_problem(body.get("schema"))
        if problem:
            return JSONResponse({"status": "error", "error": problem}, status_code=400)
        log.info("set up for project %s", body.get("project"))
        return {"model_version": predictor.model_version}

    @app.post("/predict")
    def predict(body: dict[str, Any] = Body(...)):
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            return JSONResponse({"status": "error", "error": "expected {\"tasks\": [task, ...]}"}, status_code=422)
        problem = predictor.config_problem(body.get("label_config"))
        if problem:
            return JSONResponse({"status": "error", "error": problem}, status_code=400)
        results = [predictor.predict_task(t) for t in tasks]
        log.info("predicted %d task(s) for project %s", len(tasks), body.get("project"))
        return {"results": results, "model_version": predictor.model_version}

    @app.post("/webhook")
    def webhook(body: dict[str, Any] = Body(default_factory=dict)):
        log.debug("webhook event %s ignored", body.get("action"))
        return {"status": "ok", "action": body.get("action"), "trained": False}

    return app


def serve(model: str, host: str = "127.0.0.1", port: int = 9090, log_level: str = "info") -> None:
    """Load the model, then serve until interrupted."""
    import uvicorn

    app = create_app(model)
    log.info("ML backend %s listening on http://%s:%d", app.state.predictor.model_version, host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
