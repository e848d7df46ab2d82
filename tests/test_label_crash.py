"""Crash safety of ``text-gym label serve``: SIGKILL mid-session loses no acknowledged label and leaves no partial
line; a restart resumes after the last label and never shows a labelled item again.

No outcome depends on wall-clock time: the test waits on events and process exits, and its timeouts only guard
against a hang (they are minutes long and a run that hits one fails saying so).
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading

from label_server import call

from reward_models import read_preference_rows
from reward_models.human import Candidates, build_items, save_candidates

CANDIDATES = [Candidates(f"prompt {i}", (f"left {i}", f"right {i}")) for i in range(300)]
KILL_AFTER = 40  # acknowledged labels before the SIGKILL
HANG_GUARD_S = 300


def start_server(candidates, output):
    command = [
        sys.executable,
        "-m",
        "scripts.cli",
        "label",
        "serve",
        "--candidates",
        str(candidates),
        "--output",
        str(output),
        "--port",
        "0",
        "--annotator",
        "alice",
    ]
    # SIGINT back to its default in the server: a test run started in the background (`cmd &`) ignores SIGINT, and
    # an ignored SIGINT is inherited, which would make Ctrl+C (below) a no-op for the server.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    line = ""
    while "open http" not in line:
        line = process.stdout.readline()  # blocks until the server prints or exits
        if not line and process.poll() is not None:
            break
    match = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
    if match is None:
        process.kill()
        raise AssertionError(f"server did not start: {line!r}")
    return process, match.group(1)


def test_sigkill_mid_session_keeps_every_acknowledged_label_and_restart_resumes(tmp_path):
    save_candidates(tmp_path / "candidates.jsonl", CANDIDATES)
    output = tmp_path / "prefs.jsonl"
    keys = [item.key for item in build_items(CANDIDATES)["pair"]]
    acknowledged: list[str] = []
    statuses: list[int] = []
    ended: list[BaseException | str] = []  # why the client stopped posting
    reached = threading.Event()  # set once KILL_AFTER labels are acknowledged, or when the client stops early
    process, url = start_server(tmp_path / "candidates.jsonl", output)

    def label_continuously():
        try:
            for key in keys:
                body = {"annotator": "alice", "item": key, "choice": 1}
                status, answer = call(f"{url}/api/label", body, timeout=HANG_GUARD_S)
                statuses.append(status)
                if status == 200:
                    acknowledged.append(answer["id"])
                if len(acknowledged) == KILL_AFTER:
                    reached.set()
            ended.append("ran out of items")
        except (OSError, http.client.HTTPException) as error:  # the server died under this request: never acknowledged
            ended.append(error)
        finally:
            reached.set()

    client = threading.Thread(target=label_continuously)
    try:
        client.start()
        assert reached.wait(timeout=HANG_GUARD_S), "hang guard: no label acknowledged for minutes"
        assert len(acknowledged) >= KILL_AFTER, (statuses, ended)
        process.send_signal(signal.SIGKILL)  # mid-session: the client keeps posting until the server is gone
        process.wait(timeout=HANG_GUARD_S)
        client.join(timeout=HANG_GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not client.is_alive(), "hang guard: the client is still posting minutes after the SIGKILL"
    # every label before the kill was acknowledged, and the client stopped because the server died under it
    assert set(statuses) == {200} and isinstance(ended[0], (OSError, http.client.HTTPException)), (statuses, ended)

    text = output.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    assert not any(item_id in tail for item_id in acknowledged)  # a torn tail, if any, was never acknowledged
    rows = [json.loads(line) for line in complete]  # every complete line is a whole row
    ids = [row["id"] for row in rows]
    assert set(acknowledged) <= set(ids) and len(set(ids)) == len(ids)
    assert [row["item"] for row in rows] == keys[: len(rows)]

    process, url = start_server(tmp_path / "candidates.jsonl", output)
    try:
        status, body = call(f"{url}/api/next?annotator=alice&mode=pair")
        assert status == 200
        assert body["item"]["key"] == keys[len(rows)]  # resumes right after the last stored label
        assert body["progress"] == {"done": len(rows), "total": len(keys)}
        status, _ = call(f"{url}/api/label", {"annotator": "alice", "item": keys[0], "choice": 0})
        assert status == 409  # a label from before the crash is never taken twice
        status, _ = call(f"{url}/api/label", {"annotator": "alice", "item": body["item"]["key"], "choice": 0})
        assert status == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert output.read_text(encoding="utf-8").endswith("\n")
    assert len(read_preference_rows(output)) == len(rows) + 1
