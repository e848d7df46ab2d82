"""Preference JSONL: schema validation with line numbers, crash-safe appends, torn-line handling."""

import json
import os

import pytest

from reward_models import PreferenceDataError, PreferencePair, PreferenceWriter, append_preferences, load_preferences

ROWS = [
    PreferencePair("p1", "good", "bad"),
    PreferencePair("p2", "nice", "awful", margin=0.5),
    PreferencePair("p3 ünïcode\nline", "yes", "no"),
]


def test_roundtrip_keeps_every_field(tmp_path):
    path = tmp_path / "prefs.jsonl"
    assert append_preferences(path, ROWS) == 3
    assert load_preferences(path) == ROWS
    assert path.read_text(encoding="utf-8").count("\n") == 3  # one line per row, newlines inside are escaped


def test_bad_rows_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}),  # 1 ok
        "{not json",  # 2
        json.dumps({"prompt": "p", "chosen": "a"}),  # 3 missing rejected
        "",  # 4 blank: skipped
        json.dumps({"prompt": "p", "chosen": 1, "rejected": "b"}),  # 5 wrong type
        json.dumps({"prompt": "p", "chosen": "same", "rejected": "same"}),  # 6 identical
        json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "margin": "big"}),  # 7 bad margin
        json.dumps(["p", "a", "b"]),  # 8 not an object
        json.dumps({"prompt": "q", "chosen": "c", "rejected": "d", "extra": 1}),  # 9 ok, extra key ignored
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PreferenceDataError) as info:
        load_preferences(path)
    assert [number for number, _ in info.value.errors] == [2, 3, 5, 6, 7, 8]
    message = str(info.value)
    for fragment in (
        "line 2: not valid JSON",
        "line 3: missing field(s) 'rejected'",
        "line 5: field 'chosen' must be",
        "line 6: 'chosen' and 'rejected' are identical",
        "line 7: field 'margin'",
        "line 8: expected",
    ):
        assert fragment in message
    with pytest.warns(UserWarning, match="6 invalid"):
        kept = load_preferences(path, skip_invalid=True)
    assert kept == [PreferencePair("p", "a", "b"), PreferencePair("q", "c", "d")]


def test_loader_ignores_torn_final_line(tmp_path):
    path = tmp_path / "prefs.jsonl"
    append_preferences(path, ROWS)
    with open(path, "ab") as handle:  # a crash in the middle of writing a fourth row
        handle.write(ROWS[0].to_json().encode()[:17])
    with pytest.warns(UserWarning, match="torn final line 4"):
        assert load_preferences(path) == ROWS


def test_append_after_crash_repairs_the_torn_line_and_keeps_every_earlier_row(tmp_path):
    path = tmp_path / "prefs.jsonl"
    append_preferences(path, ROWS)
    before = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"prompt": "p4", "chosen": "hal')
    new = PreferencePair("p5", "after", "crash")
    with pytest.warns(UserWarning, match="moved the unterminated final line 4"), PreferenceWriter(path) as writer:
        writer.write(new)
    assert path.read_bytes().startswith(before)
    assert (tmp_path / "prefs.jsonl.torn").read_bytes() == b'{"prompt": "p4", "chosen": "hal\n'
    assert load_preferences(path) == [*ROWS, new]


def test_valid_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "hand.jsonl"
    path.write_text(ROWS[0].to_json() + "\n" + ROWS[1].to_json(), encoding="utf-8")
    assert load_preferences(path) == ROWS[:2]
    append_preferences(path, [ROWS[2]])
    assert load_preferences(path) == ROWS


def test_writer_writes_each_row_in_one_write_and_fsyncs(tmp_path, monkeypatch):
    calls = {"write": 0, "fsync": 0}
    real_write, real_fsync = os.write, os.fsync

    def counting_write(fd, data):
        calls["write"] += 1
        assert bytes(data).endswith(b"\n") and bytes(data).count(b"\n") == 1
        return real_write(fd, data)

    def counting_fsync(fd):
        calls["fsync"] += 1
        return real_fsync(fd)

    monkeypatch.setattr(os, "write", counting_write)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    append_preferences(tmp_path / "p.jsonl", ROWS)
    assert calls == {"write": 3, "fsync": 3}


def test_writer_rejects_invalid_rows_without_writing(tmp_path):
    path = tmp_path / "p.jsonl"
    with PreferenceWriter(path) as writer:
        with pytest.raises(ValueError, match="identical"):
            writer.write(PreferencePair("p", "x", "x"))
        with pytest.raises(ValueError, match="margin"):
            writer.write(PreferencePair("p", "x", "y", margin=float("nan")))
    assert path.read_bytes() == b""


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_preferences(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c", "\x0b", "\r"])
def test_jsonl_round_trips_strings_with_unicode_line_separators(tmp_path, separator):
    """Defect 3: JSONL lines end only at "\\n"; str.splitlines() also split at U+2028 & co inside strings."""
    from reward_models.human.items import Candidates, load_candidates, save_candidates
    from text_gym.prompts.lists import load_prompts

    text = f"one{separator}two"
    pair = PreferencePair(text, f"a{separator}", "b")
    append_preferences(tmp_path / "prefs.jsonl", [pair])
    assert load_preferences(tmp_path / "prefs.jsonl") == [pair]
    candidates = [Candidates(text, (text, "x"))]
    save_candidates(tmp_path / "cands.jsonl", candidates)
    assert load_candidates(tmp_path / "cands.jsonl") == candidates
    (tmp_path / "prompts.jsonl").write_text(json.dumps({"prompt": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_prompts(str(tmp_path / "prompts.jsonl")) == [text]


def test_invalid_utf8_is_an_error_of_its_line_never_replaced(tmp_path):
    """Defect 7: invalid UTF-8 used to be replaced by U+FFFD and trained on."""
    from reward_models.human.items import load_candidates
    from text_gym.prompts.lists import load_prompts

    good = ROWS[0].to_json().encode()
    bad = b'{"prompt": "p", "chosen": "caf\xe9", "rejected": "b"}'  # Latin-1, not UTF-8
    path = tmp_path / "prefs.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")
    with pytest.raises(PreferenceDataError, match=r"line 2: invalid UTF-8 at byte 30"):
        load_preferences(path)
    with pytest.warns(UserWarning, match="1 invalid"):
        assert load_preferences(path, skip_invalid=True) == [ROWS[0]]
    for name, loader in (("c.jsonl", load_candidates), ("p.jsonl", load_prompts), ("p.txt", load_prompts)):
        file = tmp_path / name
        file.write_bytes(b'{"prompt": "ok", "completions": ["a"]}\n' + bad + b"\n")
        with pytest.raises(ValueError, match=rf"{name}, line 2: invalid UTF-8 at byte 30"):
            loader(str(file))


@pytest.mark.parametrize(
    "tail",
    [
        b'{"prompt": "p", "chosen": "caf\xe9", "rejected": "b"}',  # a whole row, but Latin-1
        b'{"prompt": "p", "chosen": "a", "rejected": "b", "id": 5}',  # complete JSON failing the schema
        b'{"prompt": "p4", "chosen": "hal',  # a torn write
    ],
)
@pytest.mark.parametrize("before", [b"", ROWS[0].to_json().encode() + b"\n"])
def test_writer_never_deletes_an_unterminated_last_line_it_moves_it_aside(tmp_path, before, tail):
    """Defect 6: opening a writer cut such a line (a one-row file lost its only row); now it keeps the bytes."""
    path = tmp_path / "prefs.jsonl"
    path.write_bytes(before + tail)
    with pytest.warns(UserWarning, match=r"moved .* to .*prefs\.jsonl\.torn"), PreferenceWriter(path) as writer:
        writer.write(ROWS[1])
    assert path.read_bytes() == before + ROWS[1].to_json().encode() + b"\n"
    assert (tmp_path / "prefs.jsonl.torn").read_bytes() == tail + b"\n"
    path.write_bytes(path.read_bytes() + tail)  # a second one is appended to the side file, not overwriting it
    with pytest.warns(UserWarning, match="moved"):
        PreferenceWriter(path).close()
    assert (tmp_path / "prefs.jsonl.torn").read_bytes() == tail + b"\n" + tail + b"\n"


def failing_write(monkeypatch, written_before_failure: int):
    """Make the next os.write in reward_models.preferences.pairs write ``written_before_failure`` bytes (a short write)
    and fail with ENOSPC then, as a full disk does (at once if 0); later writes work again."""
    import errno

    import reward_models.preferences.pairs as module

    real_write, calls = os.write, []

    def write(fd, data):
        calls.append(len(data))
        if len(calls) == 1 and written_before_failure:
            return real_write(fd, bytes(data[:written_before_failure]))
        if len(calls) == 1 + bool(written_before_failure):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(module.os, "write", write)


@pytest.mark.parametrize("written_before_failure", [0, 1, 20])
def test_a_failed_append_leaves_the_file_as_it_was(tmp_path, monkeypatch, written_before_failure):
    """Defect 2: the torn bytes of a failed append stayed and the next row was glued onto them."""
    path = tmp_path / "prefs.jsonl"
    append_preferences(path, ROWS[:2])
    before = path.read_bytes()
    with PreferenceWriter(path) as writer:
        failing_write(monkeypatch, written_before_failure)
        with pytest.raises(OSError, match=r"could not append a row to .*prefs\.jsonl.*No space left.*unchanged"):
            writer.write(ROWS[2])
        assert path.read_bytes() == before and writer.rows_written == 0
        writer.write(ROWS[2])  # space is back
    assert load_preferences(path) == ROWS


def test_a_write_past_the_file_size_limit_leaves_the_file_as_it_was(tmp_path):
    """A real failure: RLIMIT_FSIZE makes the kernel cut the write short, then refuse it with EFBIG."""
    import subprocess
    import sys

    path = tmp_path / "prefs.jsonl"
    append_preferences(path, ROWS[:1])
    size = path.stat().st_size
    script = f"""
import resource, sys
from reward_models import PreferencePair, PreferenceWriter
resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 10}, resource.RLIM_INFINITY))
with PreferenceWriter({str(path)!r}) as writer:
    try:
        writer.write(PreferencePair("p" * 100, "a", "b"))
    except OSError as error:
        print("refused:", error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "refused: [Errno 27] could not append a row to" in result.stdout
    assert path.stat().st_size == size and load_preferences(path) == ROWS[:1]


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"prompt": "p", "chosen": "a", "rejected": "b", "margin": 1%s}' % ("0" * 400), "field 'margin' must be"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"prompt": "p", "chosen": "a\\ud800", "rejected": "b"}', r"lone surrogate '\\ud800' at 1 of field 'chosen'"),
    ],
    ids=["400-digit margin", "100k-deep nesting", "surrogate escape"],
)
def test_hostile_rows_are_errors_of_their_line(tmp_path, line, reason):
    """Defect 8: these crashed with no file or line (OverflowError, RecursionError) or passed and crashed training."""
    path = tmp_path / "prefs.jsonl"
    path.write_text(ROWS[0].to_json() + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(PreferenceDataError, match=rf"prefs\.jsonl: 1 invalid.*\n  line 2: {reason}"):
        load_preferences(path)


def test_a_writer_whose_rollback_fails_refuses_later_writes(tmp_path, monkeypatch):
    import errno

    import reward_models.preferences.pairs as module

    path = tmp_path / "prefs.jsonl"
    append_preferences(path, ROWS[:1])
    writer = PreferenceWriter(path)
    failing_write(monkeypatch, 20)
    monkeypatch.setattr(module.os, "ftruncate", lambda fd, size: (_ for _ in ()).throw(OSError(errno.EIO, "EIO")))
    with pytest.raises(OSError, match=r"then truncating back to .* bytes: .*EIO"):
        writer.write(ROWS[1])
    with pytest.raises(OSError, match="refuses to write: an earlier failed append could not be rolled back"):
        writer.write(ROWS[2])  # never glued onto the torn bytes
    writer.close()
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="moved the unterminated final line 2"):
        append_preferences(path, ROWS[2:])
    assert load_preferences(path) == [ROWS[0], ROWS[2]]
