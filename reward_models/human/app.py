"""The labelling web app (Flask): shows items, records picks, rankings and edits into a ``LabelStore``.

Routes (JSON in and out under ``/api``; every error is a 4xx with ``{"error": message}`` and writes nothing; a label
the file could not take, e.g. on a full disk, is answered 507 (500 for other I/O errors) and not recorded):

- ``GET /`` — the page (``templates/label.html`` + ``static/``); model text is only ever inserted as text.
- ``GET /api/next?annotator=A&mode=pair|rank|edit`` — the first item of that mode A has not labelled, and progress.
- ``POST /api/label`` — ``{"annotator", "item", "choice": 0|1}`` (pair), ``{"ranking": [indices, best first]}``
  (rank) or ``{"text": edited}`` (edit).
- ``POST /api/undo`` — ``{"annotator"}``: retracts A's latest label (an appended undo row).

Safety: bound to loopback unless told otherwise, and then every request but those for the page's static files
must carry the token (``X-Label-Token`` header, ``Authorization: Bearer``, or ``?token=`` on the page URL); without
a token the Host header must name loopback (a DNS-rebinding guard); POSTs must be JSON (so other sites cannot post
forms to it); request bodies are capped at ``max_request_bytes``; a Content-Security-Policy allows only the app's
own script.
"""

from __future__ import annotations

import errno
import getpass
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reward_models.common.extras import require_extra
from reward_models.common.validation import check_positive_int
from reward_models.human.items import (
    MODES,
    Candidates,
    Item,
    LabelMode,
    build_items,
    load_candidates,
    sample_candidates,
    save_candidates,
)
from reward_models.human.store import LabelConflict, LabelStore

ANNOTATOR_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PUBLIC_ENDPOINTS = ("static", "favicon")
"""Served without the token: files shipped with the package, which hold no data."""


@dataclass
class LabelServerConfig:
    """Human labelling server: candidates, where labels go, and how the page is served."""

    output: str = field(default="preferences.jsonl", metadata={"help": "preference JSONL file labels are appended to"})
    candidates: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of {'prompt', 'completions': [...]} to label; None: sample from --policy (saved to "
            "<output>.candidates.jsonl and reused on restart)"
        },
    )
    prompts: str | None = field(
        default=None,
        metadata={
            "help": "prompts to sample candidates for: a .txt/.jsonl file or text_gym's 'default:train|test|all'; "
            "none: default:test, or with env the env's own first messages"
        },
    )
    env: str | None = field(
        default=None,
        metadata={
            "help": "a chat env id (TextGenChat-v0, TextGenSupport-v0): show conversations played through it with "
            "the policy (one per prompt) and candidate next agent turns; labels become conversation pairs"
        },
    )
    policy: str = field(
        default="smollm2",
        metadata={"help": "causal LM that writes the candidates: hub id, local folder or 'smollm2' (packaged)"},
    )
    completions_per_prompt: int = field(default=4, metadata={"help": "k completions sampled per prompt (>= 2)"})
    max_new_tokens: int = field(
        default=24, metadata={"help": "tokens sampled per completion (with env: the env's max_turn_tokens)"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (> 0)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus-sampling mass in (0, 1]"})
    batch_size: int = field(
        default=32, metadata={"help": "sequences generated per forward pass (text prompts only, not with env)"}
    )
    device: str = field(default="auto", metadata={"help": "'cpu', 'cuda' or 'auto' (sampling)"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to bind; anything but loopback requires a token"})
    port: int = field(default=8765, metadata={"help": "TCP port (0: any free port; the URL is printed)"})
    token: str | None = field(
        default=None,
        metadata={
            "help": "access token every request must carry; None: none on loopback, a random one (printed) elsewhere"
        },
    )
    annotator: str = field(
        default="", metadata={"help": "labeller id the page starts with (letters, digits, _.@-; ''  = the login name)"}
    )
    mode: LabelMode = field(default="pair", metadata={"help": "mode the page opens in"})
    max_request_bytes: int = field(default=65536, metadata={"help": "largest request body accepted (413 above)"})
    max_edit_chars: int = field(default=4000, metadata={"help": "longest edited completion accepted"})
    fsync: bool = field(default=True, metadata={"help": "fsync the file after every label (durable on power loss)"})

    def __post_init__(self) -> None:
        for name, low in (
            ("completions_per_prompt", 2),
            ("max_new_tokens", 1),
            ("batch_size", 1),
            ("max_request_bytes", 1024),
            ("max_edit_chars", 1),
        ):
            check_positive_int(name, getattr(self, name), minimum=low)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.annotator and not ANNOTATOR_PATTERN.fullmatch(self.annotator):
            raise ValueError(f"annotator must be 1-64 of letters, digits and _.@-, got {self.annotator!r}")
        if self.token is not None and len(self.token) < 8:
            raise ValueError("token must be at least 8 characters")
        if self.env is not None and self.candidates is not None:
            raise ValueError(
                f"env={self.env!r} samples the candidates, candidates={self.candidates!r} reads them; pass one of them"
            )
        if self.env is not None and self.batch_size != 32:
            raise ValueError(
                f"batch_size={self.batch_size} does not apply with env={self.env!r}: a chat env's candidate turns are "
                "sampled one conversation at a time"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is the loopback interface."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(config: LabelServerConfig) -> str | None:
    """The token the server requires: ``config.token``, or a fresh random one when bound beyond loopback."""
    if config.token is None and not is_loopback(config.host):
        return secrets.token_urlsafe(18)
    return config.token


def resolve_candidates(
    config: LabelServerConfig,
    prompts: Callable[[], Sequence[str]],
    sample: Callable[[], list[Candidates]] | None = None,
) -> list[Candidates]:
    """``config.candidates`` if given; else the candidates sampled earlier for ``config.output`` if they exist
    (so a restart shows the same items); else sample them and save them: ``sample()`` when given (the chat envs'
    conversations, ``text_gym.chat.labelling.conversation_candidates``), else for ``prompts()`` from
    ``config.policy``."""
    if config.candidates is not None:
        return load_candidates(config.candidates)
    cache = Path(config.output + ".candidates.jsonl")
    if cache.is_file():
        return load_candidates(cache)
    if sample is not None:
        candidates = sample()
        save_candidates(cache, candidates)
        return candidates
    candidates = sample_candidates(
        list(prompts()),
        config.policy,
        config.completions_per_prompt,
        config.max_new_tokens,
        config.temperature,
        config.top_p,
        config.batch_size,
        config.device,
        config.seed,
    )
    save_candidates(cache, candidates)
    return candidates


def create_app(config: LabelServerConfig, candidates: Sequence[Candidates], token: str | None = None):
    """The Flask app serving ``candidates`` for labelling into ``config.output``.

    ``token``: required on every request when set; must be set when ``config.host`` is not loopback.
    The app's ``LabelStore`` is ``app.extensions["label_store"]`` (close it when done).
    """
    require_extra("flask", "label", "the labelling page")
    from flask import Flask, abort, jsonify, render_template, request
    from werkzeug.exceptions import HTTPException

    if token is None and not is_loopback(config.host):
        raise ValueError(f"host {config.host!r} is not loopback, so a token is required (see resolve_token)")
    queues = build_items(candidates)
    if not any(queues.values()):
        raise ValueError("no items to label: the candidates have no completions")
    items: dict[str, Item] = {item.key: item for queue in queues.values() for item in queue}
    keys = {mode: {item.key for item in queue} for mode, queue in queues.items()}
    store = LabelStore(config.output, fsync=config.fsync)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.ensure_ascii = False
    app.extensions["label_store"] = store

    def fail(status: int, message: str):
        abort(status, description=message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 413:
            return jsonify(
                error=f"request body too large: the limit is {config.max_request_bytes} bytes (max_request_bytes)"
            ), 413
        return jsonify(error=error.description or error.name), error.code

    @app.before_request
    def check_access():
        if token is not None:
            if request.endpoint in PUBLIC_ENDPOINTS:
                return  # the page's own script, CSS and icon: a <script src> request carries no token
            given = (
                request.headers.get("X-Label-Token")
                or request.args.get("token")
                or request.headers.get("Authorization", "").removeprefix("Bearer ")
            )
            if not hmac.compare_digest(given.encode(), token.encode()):
                fail(401, "missing or wrong token: open the URL the server printed (it ends in ?token=...)")
        elif not is_loopback(request.host.rpartition(":")[0].strip("[]") or request.host):
            fail(400, f"Host {request.host!r} is not loopback; serve with a token to label from other machines")
        if request.method == "POST" and not request.is_json:
            fail(415, "POST bodies must be JSON (Content-Type: application/json)")

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def annotator_of(value: object) -> str:
        if not isinstance(value, str) or not ANNOTATOR_PATTERN.fullmatch(value):
            fail(400, "'annotator' must be 1-64 of letters, digits and _.@-")
        return value

    def mode_of(value: object) -> str:
        if value not in MODES:
            fail(400, f"'mode' must be one of {', '.join(MODES)}, got {value!r}")
        return value

    def progress(annotator: str, mode: str) -> dict:
        return {"done": store.count(annotator, keys[mode]), "total": len(keys[mode])}

    def storage_failed(error: OSError):
        """The answer when the file could not take a label: 507 Insufficient Storage (500 for other I/O errors)."""
        full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return jsonify(error=f"could not save: {error}; nothing was recorded, try again"), 507 if full else 500

    def json_body() -> dict:
        data = request.get_data(cache=True)  # a body with Content-Length > max_request_bytes is a 413 here
        if request.content_length is None and len(data) >= config.max_request_bytes:
            fail(413, "")  # a chunked body (no Content-Length) comes cut at the limit
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            fail(400, "the body must be a JSON object")
        return body

    @app.get("/")
    def page():
        return render_template(
            "label.html", token=token or "", annotator=config.annotator or _login_name(), mode=config.mode, modes=MODES
        )

    @app.get("/favicon.ico")
    def favicon():
        return "", 204

    @app.get("/api/next")
    def next_item():
        annotator = annotator_of(request.args.get("annotator"))
        mode = mode_of(request.args.get("mode"))
        item = next((i for i in queues[mode] if not store.is_labelled(annotator, i.key)), None)
        return jsonify(item=item and item.to_dict(), mode=mode, progress=progress(annotator, mode))

    @app.post("/api/label")
    def label():
        body = json_body()
        annotator = annotator_of(body.get("annotator"))
        item = items.get(body.get("item")) if isinstance(body.get("item"), str) else None
        if item is None:
            fail(400, "'item' must be the key of an item this server shows")
        texts = item.completions
        if item.mode == "pair":
            choice = body.get("choice")
            if isinstance(choice, bool) or not isinstance(choice, int) or choice not in (0, 1):
                fail(400, "'choice' must be 0 or 1 (the index of the better completion)")
            fields = {"chosen": texts[choice], "rejected": texts[1 - choice]}
        elif item.mode == "rank":
            ranking = body.get("ranking")
            if (
                not isinstance(ranking, list)
                or any(isinstance(i, bool) or not isinstance(i, int) for i in ranking)
                or sorted(ranking) != list(range(len(texts)))
            ):
                fail(400, f"'ranking' must list each index 0..{len(texts) - 1} once, best first")
            fields = {"ranking": [texts[i] for i in ranking]}
        else:
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                fail(400, "'text' must be the edited completion (non-blank)")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                fail(400, f"'text' holds a lone surrogate ({text[error.start]!r} at {error.start}), which is no text")
            if len(text) > config.max_edit_chars:
                fail(400, f"'text' is {len(text)} characters; the limit is {config.max_edit_chars}")
            if text == texts[0]:
                fail(400, "the edit is identical to the original; change it or undo")
            fields = {"chosen": text, "rejected": texts[0]}
        try:
            row = store.add(annotator, item, fields)
        except LabelConflict as error:
            fail(409, f"{error}; loading the next item")
        except OSError as error:
            return storage_failed(error)
        return jsonify(id=row["id"], mode=item.mode, progress=progress(annotator, item.mode))

    @app.post("/api/undo")
    def undo():
        annotator = annotator_of(json_body().get("annotator"))
        try:
            row = store.undo(annotator)
        except OSError as error:
            return storage_failed(error)
        if row is None:
            fail(409, f"nothing to undo for annotator {annotator!r}")
        return jsonify(undone=row["id"], item=row["item"], mode=row["mode"], progress=progress(annotator, row["mode"]))

    return app


def _login_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "annotator"
    return name if ANNOTATOR_PATTERN.fullmatch(name) else "annotator"


def make_server(config: LabelServerConfig, candidates: Sequence[Candidates], token: str | None = None):
    """A threaded WSGI server (werkzeug) for ``create_app``, bound but not yet serving: call
    ``serve_forever()`` (``shutdown()`` from another thread stops it). ``server.port`` is the bound port."""
    from werkzeug.serving import make_server as werkzeug_server

    app = create_app(config, candidates, token)
    return werkzeug_server(config.host, config.port, app, threaded=True)
