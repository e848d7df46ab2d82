"""``text-gym label stats``: counts, agreement between annotators, agreement of a reward model; and candidates
sampled from a (tiny) policy, saved next to the output and reused on restart."""

import json

import pytest

from reward_models import KeywordReward
from reward_models.human import LabelServerConfig, annotator_agreement, label_stats, resolve_candidates
from reward_models.preferences.pairs import PreferencePair
from scripts.cli import main


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


ROWS = [
    {"prompt": "p", "chosen": "good", "rejected": "bad", "id": "1", "mode": "pair", "annotator": "alice"},
    {"prompt": "p", "ranking": ["bad", "good", "meh"], "id": "2", "mode": "rank", "annotator": "bob"},
    {"prompt": "q", "chosen": "great", "rejected": "awful", "id": "3", "mode": "pair", "annotator": "bob"},
    {"prompt": "q", "chosen": "great", "rejected": "awful", "id": "4", "mode": "pair", "annotator": "carol"},
    {"prompt": "q", "chosen": "awful", "rejected": "great", "id": "5", "mode": "pair", "annotator": "carol"},
    {"undo": "5", "annotator": "carol"},
    {"prompt": "r", "chosen": "nice edit", "rejected": "bad", "id": "6", "mode": "edit", "annotator": "alice"},
]


def test_counts_and_agreement(tmp_path):
    path = tmp_path / "prefs.jsonl"
    write_rows(path, ROWS)
    stats = label_stats(path, KeywordReward(["good", "great", "nice"]))
    assert (stats["labels"], stats["pairs"], stats["prompts"]) == (5, 1 + 3 + 1 + 1 + 1, 3)
    assert stats["by_mode"] == {"edit": 1, "pair": 3, "rank": 1}
    assert stats["by_annotator"] == {"alice": 2, "bob": 2, "carol": 1}
    # alice/bob share (p: good vs bad) and disagree; bob/carol share (q: great vs awful) and agree
    assert stats["annotator_agreement"] == {
        "overall": {"shared": 2, "agreement": 0.5},
        "pairs": {"alice|bob": {"shared": 1, "agreement": 0.0}, "bob|carol": {"shared": 1, "agreement": 1.0}},
    }
    rm = stats["reward_model_agreement"]
    # keyword RM prefers good/great/nice: agrees with all but bob's "bad > good"; "bad > meh" and "good > meh"
    # score (0 vs 0) and (1 vs 0): a tie counts 1/2
    assert rm["by_annotator"]["alice"] == {"pairs": 2, "accuracy": 1.0, "margin": 1.0}
    assert rm["by_annotator"]["bob"]["accuracy"] == pytest.approx((0 + 0.5 + 1 + 1) / 4)
    assert rm["overall"]["pairs"] == 7 and rm["overall"]["accuracy"] == pytest.approx((2 + 2.5 + 1) / 7)


def test_latest_judgement_of_an_annotator_counts():
    labels = [
        ("a", PreferencePair("p", "x", "y")),
        ("a", PreferencePair("p", "y", "x")),
        ("b", PreferencePair("p", "y", "x")),
    ]
    assert annotator_agreement(labels)["overall"] == {"shared": 1, "agreement": 1.0}
    assert annotator_agreement(labels[:1])["overall"] == {"shared": 0, "agreement": None}


def test_stats_cli_prints_json(tmp_path, capsys):
    path = tmp_path / "prefs.jsonl"
    write_rows(path, ROWS)
    assert main(["label", "stats", "--data", str(path), "--reward-model", "keyword:good,great"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["labels"] == 5 and printed["reward_model_agreement"]["overall"]["pairs"] == 7


def test_candidates_are_sampled_once_then_reused(tmp_path):
    from conftest import make_tiny_tokenizer
    from tiny_lm import tiny_model

    folder = tmp_path / "policy"
    tokenizer = make_tiny_tokenizer()
    tiny_model(len(tokenizer), n_embd=16, n_layer=1).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config = LabelServerConfig(
        output=str(tmp_path / "prefs.jsonl"),
        policy=str(folder),
        completions_per_prompt=3,
        max_new_tokens=5,
        device="cpu",
    )
    prompts = ["the movie was", "the food is"]
    candidates = resolve_candidates(config, lambda: prompts)
    assert [c.prompt for c in candidates] == prompts
    assert all(1 <= len(c.completions) <= 3 and all(isinstance(t, str) for t in c.completions) for c in candidates)
    assert (tmp_path / "prefs.jsonl.candidates.jsonl").is_file()
    assert resolve_candidates(config, lambda: pytest.fail("must not sample again")) == candidates
