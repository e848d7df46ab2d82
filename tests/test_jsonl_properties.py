"""Property tests (hypothesis) of the JSONL readers and writers: any string round-trips, a torn tail at any byte
offset loses no acknowledged row, a write that fails at any point leaves exactly the acknowledged rows, and an
atomic whole-file write that fails leaves the old file."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward_models import PreferencePair, PreferenceWriter, load_preferences
from reward_models.common.jsonl import read_jsonl_objects, write_jsonl_objects
from reward_models.human.items import Candidates, load_candidates, save_candidates
from text_gym.prompts.lists import load_prompts

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])  # examples: the profile in conftest.py
# Any text json can carry: hypothesis' text() covers every code point but lone surrogates, which are no text.
texts = st.text(max_size=30)
pairs = st.builds(
    PreferencePair,
    prompt=texts,
    chosen=texts,
    rejected=texts,
    margin=st.none() | st.floats(allow_nan=False, allow_infinity=False),
).filter(lambda pair: pair.chosen != pair.rejected)


def quietly(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


@SETTINGS
@given(rows=st.lists(pairs, max_size=5), prompts=st.lists(texts.filter(str.strip), min_size=1, max_size=5))
def test_every_string_round_trips(rows, prompts):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prefs.jsonl"
        with PreferenceWriter(path) as writer:
            writer.write_all(rows)
        assert load_preferences(path) == rows
        candidates = [Candidates(prompt, (prompt, prompt + "!")) for prompt in prompts]
        save_candidates(Path(folder) / "cands.jsonl", candidates)
        assert load_candidates(Path(folder) / "cands.jsonl") == candidates
        lines = "".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in prompts)
        (Path(folder) / "prompts.jsonl").write_text(lines, encoding="utf-8")
        assert load_prompts(str(Path(folder) / "prompts.jsonl")) == prompts


@SETTINGS
@given(rows=st.lists(pairs, max_size=3), torn=pairs, after=pairs, data=st.data())
def test_a_torn_tail_at_any_byte_offset_loses_no_acknowledged_row(rows, torn, after, data):
    line = torn.to_json().encode("utf-8")
    offset = data.draw(st.integers(1, len(line)), label="bytes of the torn row on disk")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prefs.jsonl"
        with PreferenceWriter(path) as writer:
            writer.write_all(rows)
        with open(path, "ab") as handle:  # a crash after `offset` bytes of the next row
            handle.write(line[:offset])
        complete = offset == len(line)  # everything but the newline: a valid row, kept
        assert quietly(load_preferences, path) == [*rows, *([torn] if complete else [])]
        with warnings.catch_warnings(), PreferenceWriter(path) as writer:
            warnings.simplefilter("ignore")
            writer.write(after)
        assert load_preferences(path) == [*rows, *([torn] if complete else []), after]
        side = Path(folder) / "prefs.jsonl.torn"
        assert (not side.exists()) if complete else side.read_bytes() == line[:offset] + b"\n"


# How each os.write call of the writer behaves: succeeds, writes only some bytes, or fails (disk full / too big).
write_outcomes = st.lists(
    st.one_of(
        st.just(("ok", 0)),
        st.tuples(st.just("short"), st.integers(0, 200)),
        st.tuples(st.just("fail"), st.sampled_from([errno.ENOSPC, errno.EFBIG, errno.EIO])),
    ),
    max_size=30,
)


@SETTINGS
@given(rows=st.lists(pairs, min_size=1, max_size=6), outcomes=write_outcomes, fsync_fails=st.booleans())
def test_injected_write_failures_leave_exactly_the_acknowledged_rows(rows, outcomes, fsync_fails):
    real_write, real_fsync, plan = os.write, os.fsync, iter(outcomes)
    failing_fsyncs = iter([fsync_fails])

    def write(fd, data):
        kind, value = next(plan, ("ok", 0))
        if kind == "fail":
            raise OSError(value, os.strerror(value))
        if kind == "short" and value < len(data):
            return real_write(fd, bytes(data[:value]))
        return real_write(fd, data)

    def fsync(fd):
        if next(failing_fsyncs, False):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_fsync(fd)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prefs.jsonl"
        acknowledged = []
        with PreferenceWriter(path) as writer:
            with (
                mock.patch("reward_models.preferences.pairs.os.write", write),
                mock.patch("reward_models.preferences.pairs.os.fsync", fsync),
            ):
                for row in rows:
                    try:
                        writer.write(row)
                    except OSError:
                        continue
                    acknowledged.append(row)
            writer.write(rows[0])  # the disk works again: the writer still appends cleanly
        assert load_preferences(path) == [*acknowledged, rows[0]]


@SETTINGS
@given(rows=st.lists(st.dictionaries(texts, texts, max_size=3), max_size=5), fail_at=st.integers(0, 5))
def test_write_jsonl_objects_round_trips_and_a_failed_write_leaves_the_old_file(rows, fail_at):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        assert write_jsonl_objects(path, rows) == path
        assert [row for _, row in read_jsonl_objects(path)] == rows

        def failing():
            yield from rows[:fail_at]
            raise OSError(errno.ENOSPC, "No space left on device")

        before = path.read_bytes()
        with pytest.raises(OSError, match="No space left"):
            write_jsonl_objects(path, failing())
        assert path.read_bytes() == before
        assert os.listdir(folder) == ["rows.jsonl"]  # no temporary file left
