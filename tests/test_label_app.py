"""The labelling app over HTTP: labels of each mode, undo, resume, and the safety rules (token, Host, sizes,
malformed requests leave the file unchanged, concurrent labellers never interleave lines)."""

import threading
import urllib.error
import urllib.request

import pytest
from label_server import CANDIDATES, SCRIPT, call, running_server

from reward_models import load_preferences, read_preference_rows
from reward_models.human import Candidates, LabelServerConfig, build_items, create_app, resolve_token


def next_item(url, mode, annotator="alice"):
    status, body = call(f"{url}/api/next?annotator={annotator}&mode={mode}")
    assert status == 200
    return body


def test_each_mode_writes_its_row_and_undo_shows_the_item_again(tmp_path):
    path = tmp_path / "prefs.jsonl"
    with running_server(path) as url:
        pair = next_item(url, "pair")
        assert pair["progress"] == {"done": 0, "total": 6}
        assert call(f"{url}/api/label", {"annotator": "alice", "item": pair["item"]["key"], "choice": 1})[0] == 200
        rank = next_item(url, "rank")["item"]
        assert call(f"{url}/api/label", {"annotator": "alice", "item": rank["key"], "ranking": [3, 0, 2, 1]})[0] == 200
        edit = next_item(url, "edit")["item"]
        assert call(f"{url}/api/label", {"annotator": "alice", "item": edit["key"], "text": " great fun!"})[0] == 200
        assert next_item(url, "pair")["progress"]["done"] == 1
        assert next_item(url, "pair")["item"]["key"] != pair["item"]["key"]

        status, undone = call(f"{url}/api/undo", {"annotator": "alice"})
        assert status == 200 and undone["mode"] == "edit" and undone["item"] == edit["key"]
        assert next_item(url, "edit")["item"]["key"] == edit["key"]  # shown again
        assert call(f"{url}/api/undo", {"annotator": "bob"}) == (409, {"error": "nothing to undo for annotator 'bob'"})

    rows = read_preference_rows(path)
    assert [row["mode"] for row in rows] == ["pair", "rank"]
    texts = CANDIDATES[0].completions
    assert (rows[0]["chosen"], rows[0]["rejected"]) == (texts[1], texts[0])
    assert rows[1]["ranking"] == [texts[3], texts[0], texts[2], texts[1]]
    assert all(row["annotator"] == "alice" and row["timestamp"].endswith("+00:00") for row in rows)
    assert len(load_preferences(path)) == 1 + 6
    assert path.read_text().count('"undo"') == 1

    with running_server(path) as url:  # restart: resumes, and the edit undone before is still open
        assert next_item(url, "pair")["progress"]["done"] == 1
        assert next_item(url, "rank")["item"]["key"] != rank["key"]
        assert next_item(url, "edit")["item"]["key"] == edit["key"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"annotator": "alice", "choice": 0}, 400, "'item' must be the key"),
        ({"annotator": "al ice", "item": "x", "choice": 0}, 400, "'annotator' must be"),
        ({"annotator": "alice", "item": "PAIR", "choice": 2}, 400, "'choice' must be 0 or 1"),
        ({"annotator": "alice", "item": "PAIR", "choice": True}, 400, "'choice' must be 0 or 1"),
        ({"annotator": "alice", "item": "PAIR", "choice": 1.0}, 400, "'choice' must be 0 or 1"),  # was a 500
        ({"annotator": "alice", "item": "EDIT", "text": "ok \ud800"}, 400, "lone surrogate"),  # was a 500
        ({"annotator": "alice", "item": "RANK", "ranking": [0, 1, 1, 2]}, 400, "'ranking' must list each index 0..3"),
        ({"annotator": "alice", "item": "EDIT", "text": "   "}, 400, "'text' must be the edited completion"),
        ({"annotator": "alice", "item": "EDIT", "text": " great fun"}, 400, "identical to the original"),
        ({"annotator": "alice", "item": "EDIT", "text": "x" * 101}, 400, "101 characters; the limit is 100"),
        ([1, 2], 400, "the body must be a JSON object"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_leave_the_file_unchanged(tmp_path, body, status, message):
    path = tmp_path / "prefs.jsonl"
    with running_server(path, max_edit_chars=100) as url:
        keys = {mode.upper(): next_item(url, mode)["item"]["key"] for mode in ("pair", "rank", "edit")}
        if isinstance(body, dict) and body.get("item") in keys:
            body = {**body, "item": keys[body["item"]]}
        code, answer = call(f"{url}/api/label", body)
        assert code == status and message in answer["error"]
    assert path.read_bytes() == b""


def test_oversized_non_json_and_unparseable_requests(tmp_path):
    path = tmp_path / "prefs.jsonl"
    with running_server(path, max_request_bytes=2048) as url:
        key = next_item(url, "edit")["item"]["key"]
        status, answer = call(f"{url}/api/label", {"annotator": "alice", "item": key, "text": "y" * 5000})
        assert (status, answer) == (
            413,
            {"error": "request body too large: the limit is 2048 bytes (max_request_bytes)"},
        )
        for data, content_type, expected in (
            (b"{not json", "application/json", 400),
            (b"choice=1", "application/x-www-form-urlencoded", 415),
        ):
            request = urllib.request.Request(f"{url}/api/label", data=data, headers={"Content-Type": content_type})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            assert info.value.code == expected
        assert call(f"{url}/api/next?annotator=alice&mode=sort")[0] == 400
        chunks = (b'{"text": "' + b"y" * 1000 for _ in range(5))  # no Content-Length: sent chunked
        request = urllib.request.Request(f"{url}/api/label", data=chunks, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 413 and "max_request_bytes" in info.value.read().decode()  # was 400
    assert path.read_bytes() == b""


def test_token_is_required_off_loopback_and_checked(tmp_path):
    with pytest.raises(ValueError, match="not loopback, so a token is required"):
        create_app(LabelServerConfig(output=str(tmp_path / "x.jsonl"), host="0.0.0.0"), CANDIDATES)
    assert resolve_token(LabelServerConfig(host="127.0.0.1")) is None
    assert len(resolve_token(LabelServerConfig(host="0.0.0.0"))) >= 20
    path = tmp_path / "prefs.jsonl"
    with running_server(path, token="s3cret-token") as url:
        assert call(f"{url}/api/next?annotator=alice&mode=pair")[0] == 401
        assert call(f"{url}/api/next?annotator=alice&mode=pair", headers={"X-Label-Token": "wrong-token"})[0] == 401
        assert call(f"{url}/api/next?annotator=alice&mode=pair&token=s3cret-token")[0] == 200
        status, body = call(
            f"{url}/api/next?annotator=alice&mode=pair", headers={"Authorization": "Bearer s3cret-token"}
        )
        assert status == 200
        label = {"annotator": "alice", "item": body["item"]["key"], "choice": 0}
        assert call(f"{url}/api/label", label)[0] == 401
        assert call(f"{url}/api/label", label, headers={"X-Label-Token": "s3cret-token"})[0] == 200
    assert len(load_preferences(path)) == 1


def test_page_escapes_and_guards_host(tmp_path):
    app = create_app(LabelServerConfig(output=str(tmp_path / "p.jsonl"), annotator="alice"), CANDIDATES)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b"<script>" not in page.data.replace(b'<script src="/static/label.js" defer></script>', b"")
    assert client.get("/", headers={"Host": "attacker.example:8765"}).status_code == 400  # DNS rebinding
    item = client.get("/api/next?annotator=alice&mode=rank").get_json()["item"]
    assert SCRIPT in item["completions"][1]  # sent as JSON data; the page inserts it with textContent
    app.extensions["label_store"].close()


def test_concurrent_labellers_never_interleave_lines(tmp_path):
    path = tmp_path / "prefs.jsonl"
    many = [Candidates(f"prompt {i}", (f"a{i}", f"b{i}")) for i in range(40)]
    with running_server(path, many, fsync=False) as url:
        keys = [item.key for item in build_items(many)["pair"]]
        statuses = []

        def label(annotator):
            for key in keys:
                statuses.append(call(f"{url}/api/label", {"annotator": annotator, "item": key, "choice": 0})[0])

        threads = [threading.Thread(target=label, args=(name,)) for name in ("alice", "bob", "alice")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(statuses) == [200] * 80 + [409] * 40  # the second "alice" tab gets conflicts, never duplicates
    rows = read_preference_rows(path)
    assert len(rows) == 80 and len(path.read_text().splitlines()) == 80
    assert {(row["annotator"], row["item"]) for row in rows} == {(a, k) for a in ("alice", "bob") for k in keys}


def test_a_full_disk_answers_507_records_nothing_and_the_next_label_works(tmp_path, monkeypatch):
    """Defect 2: a failed append must not be acknowledged, nor corrupt the file for the labels after it."""
    import errno

    import reward_models.preferences.pairs as module

    path = tmp_path / "prefs.jsonl"
    real_write, failures = module.os.write, [2]

    def write(fd, data):  # the first append writes 10 bytes, then finds the disk full
        if failures[0]:
            failures[0] -= 1
            if failures[0] == 1:
                return real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with running_server(path) as url:
        key = next_item(url, "pair")["item"]["key"]
        monkeypatch.setattr(module.os, "write", write)
        status, answer = call(f"{url}/api/label", {"annotator": "alice", "item": key, "choice": 0})
        assert status == 507, answer
        assert "No space left on device" in answer["error"] and "nothing was recorded" in answer["error"]
        assert path.read_bytes() == b"" and next_item(url, "pair")["item"]["key"] == key
        assert call(f"{url}/api/label", {"annotator": "alice", "item": key, "choice": 0})[0] == 200
    assert [row["item"] for row in read_preference_rows(path)] == [key]
