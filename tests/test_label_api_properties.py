"""Property test (hypothesis) of the labelling HTTP API: random bodies, query strings and content types never get a
5xx, and the preference file always holds exactly the labels acknowledged with 200 (minus those undone)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from label_server import CANDIDATES

from reward_models import read_preference_rows
from reward_models.human import LabelServerConfig, build_items, create_app

# the number of examples comes from the hypothesis profile in conftest.py
SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
ITEMS = build_items(CANDIDATES)
annotator = st.one_of(*[st.sampled_from(["alice", "bob"])] * 3, st.sampled_from(["", "al ice", "a" * 65]), json_values)


def key_of(mode: str):
    return st.one_of(*[st.sampled_from([item.key for item in ITEMS[mode]])] * 3, json_values)


def mostly(edges: list):
    return st.one_of(*[st.sampled_from(edges)] * 3, json_values)


choice = mostly([0, 1, 1.0, 0.0, True, -1, 2, "1"])
ranking = st.one_of(
    st.permutations(range(4)).map(list), mostly([[0, 1, 2, 3.0], [0, 1, 2], [0, 0, 1, 2], [True, 1, 2, 3]])
)
text = mostly([" an edit", " great fun", "   ", "ok \ud800", "\udfff", "x" * 101, " n\u2028ew\x00"])
fields = {"annotator": annotator, "item": key_of("pair"), "choice": choice, "ranking": ranking, "text": text}
bodies = st.one_of(
    st.fixed_dictionaries({"annotator": annotator, "item": key_of("pair"), "choice": choice}),
    st.fixed_dictionaries({"annotator": annotator, "item": key_of("rank"), "ranking": ranking}),
    st.fixed_dictionaries({"annotator": annotator, "item": key_of("edit"), "text": text}),
    st.fixed_dictionaries({}, optional=fields),
    json_values,
)
requests = st.one_of(
    st.tuples(st.just("label"), bodies),
    st.tuples(st.just("undo"), bodies),
    st.tuples(st.just("next"), st.dictionaries(st.sampled_from(["annotator", "mode", "token"]), st.text(max_size=10))),
    st.tuples(st.just("raw"), st.tuples(st.binary(max_size=100), st.sampled_from(["application/json", "text/plain"]))),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "prefs.jsonl"
    app = create_app(LabelServerConfig(output=str(path), max_request_bytes=4096, max_edit_chars=100), CANDIDATES)
    app.testing = False  # answer like production: an exception is a 500, not raised into the test
    yield app.test_client(), path, {"live": 0}
    app.extensions["label_store"].close()


@SETTINGS
@given(calls=st.lists(requests, min_size=1, max_size=8))
def test_random_requests_never_get_a_5xx_and_the_file_holds_the_acknowledged_labels(client, calls):
    http, path, counts = client
    for kind, payload in calls:
        if kind == "next":
            response = http.get("/api/next", query_string=payload)
        elif kind == "raw":
            data, content_type = payload
            response = http.post("/api/label", data=data, content_type=content_type)
        else:
            response = http.post(f"/api/{kind}", data=json.dumps(payload), content_type="application/json")
        assert response.status_code < 500, (kind, payload, response.get_json())
        assert isinstance(response.get_json(), dict)
        if response.status_code == 200 and kind in ("label", "undo"):
            counts["live"] += 1 if kind == "label" else -1
    assert len(read_preference_rows(path)) == counts["live"]
