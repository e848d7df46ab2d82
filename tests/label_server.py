"""Helpers for the labelling tests: a candidates set with hostile text, and an in-process server on a free port."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request

from reward_models.human import Candidates, LabelServerConfig, make_server

SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
CANDIDATES = [
    Candidates("the movie was", (" great fun", f" dull {SCRIPT} ending", " fine", " a good film")),
    Candidates("the food is", (" bad and cold", " great and hot", " ok", " so good")),
    Candidates("my day was", (" happy", " sad", " long", " very good")),
]


@contextlib.contextmanager
def running_server(output, candidates=CANDIDATES, token=None, **options):
    """Serve ``candidates`` into ``output`` on 127.0.0.1:<free port> in a thread; yield the base URL; always stop."""
    config = LabelServerConfig(output=str(output), host="127.0.0.1", port=0, annotator="alice", **options)
    server = make_server(config, candidates, token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        server.app.extensions["label_store"].close()


def call(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    """GET (``body`` None) or POST JSON; returns (status, decoded JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
