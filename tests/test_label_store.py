"""Human-label rows in preference files: rankings expand to pairs, undo rows retract, the store resumes."""

import json

import pytest

from reward_models import PreferenceDataError, PreferencePair, PreferenceWriter, load_preferences, read_preference_rows
from reward_models.human import LabelConflict, LabelStore, build_items, load_candidates, save_candidates
from reward_models.human.items import Candidates


def write_lines(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_ranking_rows_expand_into_every_ordered_pair_and_undo_retracts(tmp_path):
    path = tmp_path / "prefs.jsonl"
    write_lines(
        path,
        [
            {"prompt": "p", "ranking": ["best", "mid", "worst"], "id": "r1", "mode": "rank", "annotator": "a"},
            {"prompt": "q", "chosen": "yes", "rejected": "no", "id": "x1"},
            {"prompt": "q", "chosen": "no", "rejected": "yes", "id": "x2"},
            {"undo": "x2", "annotator": "a"},
            {"prompt": "r", "chosen": "c", "rejected": "d"},  # plain row without id still loads
        ],
    )
    assert load_preferences(path) == [
        PreferencePair("p", "best", "mid"),
        PreferencePair("p", "best", "worst"),
        PreferencePair("p", "mid", "worst"),
        PreferencePair("q", "yes", "no"),
        PreferencePair("r", "c", "d"),
    ]
    assert [row.get("id") for row in read_preference_rows(path)] == ["r1", "x1", None]


def test_bad_ranking_and_undo_rows_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(
        path,
        [
            {"prompt": "p", "ranking": ["only one"]},  # 1
            {"prompt": "p", "ranking": ["same", "same"]},  # 2
            {"prompt": "p", "ranking": ["a", "b"], "chosen": "a", "rejected": "b"},  # 3
            {"prompt": "p", "chosen": "a", "rejected": "b", "id": "k"},  # 4 ok
            {"prompt": "p", "chosen": "b", "rejected": "a", "id": "k"},  # 5 duplicate id
            {"undo": "nope"},  # 6 unknown id
            {"undo": "k"},  # 7 ok
            {"undo": "k"},  # 8 already undone
            {"prompt": "p", "ranking": ["a", 3]},  # 9
        ],
    )
    with pytest.raises(PreferenceDataError) as info:
        load_preferences(path)
    assert [number for number, _ in info.value.errors] == [1, 2, 3, 5, 6, 8, 9]
    message = str(info.value)
    for fragment in (
        "line 1: field 'ranking' must be a list of at least 2",
        "line 2: field 'ranking' has identical",
        "line 3: a row has either",
        "line 5: duplicate id 'k' (first used on line 4)",
        "line 6: undo of 'nope'",
        "line 8: undo of 'k'",
    ):
        assert fragment in message


def test_writer_repairs_a_torn_ranking_row_and_keeps_a_complete_undo_row(tmp_path):
    path = tmp_path / "prefs.jsonl"
    with PreferenceWriter(path) as writer:
        writer.write_row({"prompt": "p", "ranking": ["a", "b"], "id": "1"})
    with open(path, "ab") as handle:
        handle.write(b'{"prompt": "p", "ranking": ["c", ')
    with pytest.warns(UserWarning, match="moved the unterminated"), PreferenceWriter(path) as writer:
        writer.write_row({"undo": "1"})
    assert path.read_text().splitlines()[-1] == '{"undo": "1"}' and load_preferences(path) == []
    with pytest.raises(ValueError, match="field 'ranking'"), PreferenceWriter(path) as writer:
        writer.write_row({"prompt": "p", "ranking": "ab"})


def test_items_per_mode_have_stable_keys(tmp_path):
    candidates = [Candidates("p", ("a", "b", "c", "d", "e")), Candidates("q", ("x",))]
    queues = build_items(candidates)
    assert [item.completions for item in queues["pair"]] == [("a", "b"), ("c", "d")]
    assert [item.completions for item in queues["rank"]] == [("a", "b", "c", "d", "e")]
    assert [(item.prompt, item.completions) for item in queues["edit"]] == [("p", ("a",)), ("q", ("x",))]
    save_candidates(tmp_path / "c.jsonl", candidates)
    assert build_items(load_candidates(tmp_path / "c.jsonl")) == queues  # same keys on every run
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p", "completions": "ab"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 1: expected"):
        load_candidates(tmp_path / "bad.jsonl")


def test_store_resumes_per_annotator_and_undo_reaches_earlier_sessions(tmp_path):
    path = tmp_path / "prefs.jsonl"
    queues = build_items([Candidates("p", ("a", "b", "c")), Candidates("q", ("d", "e"))])
    first, second = queues["pair"]
    store = LabelStore(path)
    row = store.add("alice", first, {"chosen": "b", "rejected": "a"})
    store.add("alice", second, {"chosen": "d", "rejected": "e"})
    store.add("bob", first, {"chosen": "a", "rejected": "b"})
    with pytest.raises(LabelConflict, match="already labelled"):
        store.add("alice", first, {"chosen": "a", "rejected": "b"})
    store.close()
    assert {"id", "item", "mode", "annotator", "timestamp"} <= row.keys() and row["mode"] == "pair"

    store = LabelStore(path)  # a restart
    assert store.is_labelled("alice", first.key) and store.is_labelled("bob", first.key)
    assert not store.is_labelled("bob", second.key)
    assert store.undo("alice")["item"] == second.key
    assert store.undo("alice")["id"] == row["id"]
    assert store.undo("alice") is None
    store.close()
    assert [(p.chosen, p.rejected) for p in load_preferences(path)] == [("a", "b")]  # only bob's label is live
    store = LabelStore(path)
    assert not store.is_labelled("alice", first.key) and store.is_labelled("bob", first.key)
    store.close()
