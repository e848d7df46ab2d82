"""Per-prompt dataset columns reach reward functions (TRL's convention) through gym.make and gym.make_vec, and show
up in ``info``; prompt sources with fields (list of dicts, JSONL, datasets.Dataset, hub id) and their bad inputs."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from conftest import make_tiny_tokenizer

import text_gym  # noqa: F401  (registers the env ids)
from reward_models import CompositeReward, call_reward, required_fields
from text_gym.prompts.rows import load_prompt_source

ROWS = [
    {"prompt": "the movie was", "answer": "good", "weight": 1.0},
    {"prompt": "my day was", "answer": "bad", "weight": 2.0},
    {"prompt": "the food is", "answer": "fine", "weight": 3.0},
]
EOS = 2


def answer_reward(prompts, completions, answer):
    """1.0 when the completion contains the prompt's answer word."""
    return [float(a in c.split()) for a, c in zip(answer, completions, strict=True)]


def make(env_id="TextGen-v0", vector=False, reward=answer_reward, prompts=ROWS, **kwargs):
    options = dict(
        tokenizer=make_tiny_tokenizer(),
        reward_model=reward,
        prompts=prompts,
        max_new_tokens=2,
        max_prompt_tokens=4,
        **kwargs,
    )
    return gym.make_vec(env_id, **options) if vector else gym.make(env_id, **options)


# ------------------------------------------------------------------------------------------------- sources
def test_list_of_dicts_splits_into_prompts_and_columns():
    source = load_prompt_source(ROWS)
    assert source.prompts == [r["prompt"] for r in ROWS]
    assert source.field_names == ("answer", "weight")
    assert source.fields([2, 0]) == {"answer": ["fine", "good"], "weight": [3.0, 1.0]}


def test_plain_sources_have_no_fields():
    source = load_prompt_source(["a prompt", "another"])
    assert source.field_names == () and source.fields([1]) == {}


def test_jsonl_rows_with_extra_keys_are_fields(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n", encoding="utf-8")
    source = load_prompt_source(path)
    assert source.prompts == [r["prompt"] for r in ROWS] and source.fields([1])["answer"] == ["bad"]


def test_datasets_dataset_columns_are_fields():
    datasets = pytest.importorskip("datasets")
    source = load_prompt_source(datasets.Dataset.from_list(ROWS))
    assert source.field_names == ("answer", "weight") and source.fields([2]) == {"answer": ["fine"], "weight": [3.0]}
    with pytest.raises(ValueError, match="no 'prompt' column"):
        load_prompt_source(datasets.Dataset.from_list([{"text": "x"}]))


def test_hub_dataset_id_is_loaded_with_datasets(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_prompt_source("hf:org/prompts").prompts == [r["prompt"] for r in ROWS]
    load_prompt_source("hf:org/prompts?split=test&name=small")
    assert calls == [("org/prompts", None, "train"), ("org/prompts", "small", "test")]
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['revision'\]"):
        load_prompt_source("hf:org/prompts?revision=main")
    with pytest.raises(ValueError, match="give a dataset id"):
        load_prompt_source("hf:")


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"prompt": "a", "answer": 1}, {"prompt": "b"}], r"row 1 lacks the field\(s\) \['answer'\]"),
        ([{"prompt": "a"}, {"prompt": "b", "answer": 1}], r"row 1 has field\(s\) \['answer'\]"),
        ([{"prompt": "a", "score": 1}], r"field names \['score'\] are reserved"),
        ([{"prompt": "a"}, {"text": "b"}], "row 1: expected a dict with a string 'prompt' field"),
        ([{"prompt": "a"}, "b"], "row 1: expected a dict"),
        ([{"prompt": "  "}], "blank"),
    ],
)
def test_inconsistent_rows_are_clear_errors(rows, message):
    with pytest.raises(ValueError, match=message):
        load_prompt_source(rows)


def test_jsonl_row_missing_a_field_is_a_clear_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"prompt": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rows.jsonl row 1 lacks the field\(s\) \['answer', 'weight'\]"):
        load_prompt_source(path)


# ----------------------------------------------------------------------------------------- reward calling
def test_call_reward_passes_what_the_signature_asks_for():
    seen = {}

    def plain(prompts, completions):
        return [0.0] * len(completions)

    def everything(prompts, completions, **kwargs):
        seen["all"] = kwargs
        return [0.0] * len(completions)

    def optional(prompts, completions, weight=None):
        seen["optional"] = weight
        return [0.0] * len(completions)

    fields = {"answer": ["x", "y"], "weight": [1.0, 2.0]}
    for fn in (plain, everything, optional):
        call_reward(fn, ["p", "q"], ["a", "b"], fields)
    assert seen == {"all": fields, "optional": [1.0, 2.0]}
    assert required_fields(answer_reward) == {"answer"} and required_fields(optional) == set()
    composite = CompositeReward([(1.0, answer_reward), (0.5, plain)])
    assert required_fields(composite) == {"answer"}
    np.testing.assert_allclose(composite(["p"], ["good"], answer=["good"]), [1.0])
    with pytest.raises(ValueError, match="has 1 values for 2 completions"):
        call_reward(answer_reward, ["p", "q"], ["a", "b"], {"answer": ["x"]})


def test_trl_style_reward_functions_are_called_by_keyword():
    seen = {}

    def accuracy(completions, solution, **kwargs):  # TRL's signature: prompts arrive in kwargs
        seen["accuracy"] = (list(completions), list(solution), sorted(kwargs))
        return [float(c == s) for c, s in zip(completions, solution, strict=True)]

    def no_prompts(completions, solution):
        return [0.0] * len(completions)

    fields = {"solution": ["4", "5"], "level": [1, 2]}
    np.testing.assert_array_equal(call_reward(accuracy, ["p", "q"], ["4", "6"], fields), [1.0, 0.0])
    assert seen["accuracy"] == (["4", "6"], ["4", "5"], ["level", "prompts"])
    assert call_reward(no_prompts, ["p"], ["x"], {"solution": ["y"]}) == [0.0]
    assert required_fields(accuracy) == {"solution"}
    env = make(reward=lambda completions, answer: [float(a in c) for a, c in zip(answer, completions, strict=True)])
    env.reset(seed=0, options={"prompt_index": 0})
    env.step(env.unwrapped.task.tokenizer.convert_tokens_to_ids("good"))
    assert env.step(EOS)[1] == 1.0


def test_a_reward_asking_for_a_missing_column_fails_at_construction():
    with pytest.raises(ValueError, match=r"needs the per-prompt field\(s\) \['answer'\].*their fields: none"):
        make(prompts=["the movie was"])
    with pytest.raises(ValueError, match=r"needs the per-prompt field\(s\) \['label'\].*\['answer', 'weight'\]"):
        make(reward=lambda prompts, completions, label: [0.0] * len(completions))


def test_plain_rewards_keep_working_with_field_data():
    env = make(reward=lambda prompts, completions: [float(len(c)) for c in completions])
    env.reset(seed=0)
    assert env.step(EOS)[1] == 0.0


# ---------------------------------------------------------------------------------------------- gym.make
def test_single_env_gets_fields_in_reward_and_in_every_info():
    env = make()
    tok = env.unwrapped.task.tokenizer
    for index, row in enumerate(ROWS):
        _, info = env.reset(seed=index, options={"prompt_index": index})
        assert (info["answer"], info["weight"]) == (row["answer"], row["weight"])
        _, reward, terminated, _, info = env.step(tok.convert_tokens_to_ids(row["answer"]))
        assert not terminated and reward == 0.0 and info["answer"] == row["answer"]
        _, reward, terminated, _, info = env.step(EOS)
        assert terminated and reward == 1.0 and info["answer"] == row["answer"] and info["weight"] == row["weight"]
        env.reset(options={"prompt_index": index})
        env.step(tok.convert_tokens_to_ids("good" if row["answer"] != "good" else "bad"))
        assert env.step(EOS)[1] == 0.0


def test_dict_fields_reach_each_info_as_a_fresh_copy():
    from gymnasium.utils.env_checker import check_env

    rows = [{"prompt": "the movie was", "meta": {"answer": "good", "tags": ["a"]}}]
    env = make(prompts=rows, reward=lambda prompts, completions: [0.0] * len(completions))
    _, first = env.reset(seed=0)
    first["meta"]["tags"].append("changed")  # what a user keeping infos may do
    _, _, _, _, info = env.step(EOS)
    assert info["meta"] == {"answer": "good", "tags": ["a"]} and info["meta"] is not first["meta"]
    assert env.unwrapped.task.prompt_fields([0])["meta"] == [{"answer": "good", "tags": ["a"]}]
    check_env(env.unwrapped, skip_render_check=True)  # no two infos share an object


@pytest.mark.parametrize("mode", ["vector_entry_point", "sync"])
def test_vector_env_rewards_are_aligned_with_each_episodes_fields_across_autoresets(mode):
    envs = make(vector=True, num_envs=4, vectorization_mode=mode)
    tok = make_tiny_tokenizer()
    prompt_of = {row["answer"]: row["prompt"] for row in ROWS}
    _, info = envs.reset(seed=7)
    seen = set()
    for _episode in range(4):
        answers = list(info["answer"])
        assert info["_answer"].all() and list(info["prompt"]) == [prompt_of[a] for a in answers]
        seen.update(answers)
        # sub-envs 0 and 1 write their own answer, 2 and 3 always write "good"
        words = [answers[0], answers[1], "good", "good"]
        _, rewards, terminated, _, info = envs.step(np.array([tok.convert_tokens_to_ids(w) for w in words]))
        assert not terminated.any() and info["_answer"].all() and list(info["answer"]) == answers
        _, rewards, terminated, _, info = envs.step(np.full(4, EOS))
        assert terminated.all() and list(info["answer"]) == answers
        np.testing.assert_array_equal(rewards, [1.0, 1.0, answers[2] == "good", answers[3] == "good"])
        _, rewards, terminated, _, info = envs.step(np.full(4, EOS))  # the autoreset step: new prompts
        assert not terminated.any() and not rewards.any()
    assert seen == {"good", "bad", "fine"}


def test_same_step_autoreset_reports_the_fields_of_the_episode_that_ended():
    from gymnasium.vector import AutoresetMode

    envs = make(vector=True, num_envs=3, autoreset_mode=AutoresetMode.SAME_STEP)
    tok = make_tiny_tokenizer()
    _, info = envs.reset(seed=3)
    answers = list(info["answer"])
    envs.step(np.array([tok.convert_tokens_to_ids(a) for a in answers]))
    _, rewards, terminated, _, info = envs.step(np.full(3, EOS))
    assert terminated.all() and rewards.tolist() == [1.0, 1.0, 1.0]
    assert list(info["answer"]) == answers and list(info["completion"]) == answers
    next_answers = [ROWS[i]["answer"] for i in envs.prompt_index]  # the new episodes, already reset
    _, _, _, _, info = envs.step(np.full(3, EOS))
    assert list(info["answer"]) == next_answers
