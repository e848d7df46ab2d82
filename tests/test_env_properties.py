"""Property tests (hypothesis) of the env and the vector env: random sequences of steps and resets, with invalid
actions and options interleaved and a reward model that sometimes raises or returns junk. Every call that raises
must change nothing, so the run equals a replay of only the calls that succeeded, with a reward model that never
fails: the same returns, call by call, and the same state at the end (buffers, counters, ended flags, RNGs)."""

from __future__ import annotations

import math

import numpy as np
from conftest import make_tiny_tokenizer
from gymnasium.vector import AutoresetMode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_env import EOS, PROMPTS, count_good
from test_vector import assert_same_state, vector_state

from text_gym import TextGenEnv, TextGenVectorEnv

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])  # examples: the profile in conftest.py
VOCAB, B = 40, 3
KWARGS = dict(prompts=PROMPTS, max_new_tokens=4, max_prompt_tokens=6)

JUNK = {
    "raise": None,
    "nan": lambda n: [math.nan] * n,
    "numeric string": lambda n: ["1.5"] * n,
    "bool": lambda n: [True] * n,
    "too few": lambda n: [0.0] * (n - 1),
    "beyond float32": lambda n: [1e39] * n,
    "huge int": lambda n: [10**400] * n,
}


class FlakyReward:
    """Counts 'good' words, but call k misbehaves as ``plan[k]`` says ('ok' or a key of JUNK)."""

    def __init__(self, plan):
        self.plan = iter(plan)

    def __call__(self, prompts, completions):
        behaviour = next(self.plan, "ok")
        if behaviour == "raise":
            raise ConnectionError("reward server down")
        return count_good(prompts, completions) if behaviour == "ok" else JUNK[behaviour](len(completions))


reward_plans = st.lists(st.sampled_from(["ok", *JUNK]), max_size=12)
# mostly valid token ids (EOS and 'good' often, so episodes end and score), sometimes anything
token = st.one_of(st.sampled_from([EOS, 15]), st.integers(0, VOCAB - 1))
bad_action = st.one_of(st.integers(-3, -1), st.integers(VOCAB, VOCAB + 5), st.sampled_from([1.5, "7", None, True]))


def same(a, b) -> None:
    """Deep equality of step/reset returns (dicts of arrays, object arrays of strings, floats)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            same(a[key], b[key])
    elif isinstance(a, (tuple, list)) or (isinstance(a, np.ndarray) and a.dtype == object):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def run(env, calls):
    """Apply ``calls`` ((method, kwargs)); return the returns of those that succeeded, and those calls."""
    returns, accepted = [], []
    for method, kwargs in calls:
        try:
            result = getattr(env, method)(**kwargs)
        except (ValueError, TypeError, RuntimeError):
            continue
        returns.append(result)
        accepted.append((method, kwargs))
    return returns, accepted


single_calls = st.lists(
    st.one_of(
        st.builds(lambda a: ("step", {"action": a}), token | bad_action),
        st.builds(lambda a: ("step", {"action": a}), token),
        st.builds(
            lambda i: ("reset", {"options": None if i is None else {"prompt_index": i}}),
            st.none() | st.integers(-1, len(PROMPTS)),
        ),
    ),
    max_size=30,
)


@SETTINGS
@given(calls=single_calls, plan=reward_plans, seed=st.integers(0, 2**16))
def test_env_equals_a_replay_of_the_calls_that_succeeded(calls, plan, seed):
    flaky = TextGenEnv(tokenizer=make_tiny_tokenizer(), reward_model=FlakyReward(plan), **KWARGS)
    clean = TextGenEnv(tokenizer=make_tiny_tokenizer(), reward_model=count_good, **KWARGS)
    calls = [("reset", {"seed": seed}), *calls]
    returns, accepted = run(flaky, calls)
    replayed, replay_accepted = run(clean, accepted)
    assert replay_accepted == accepted
    same(returns, replayed)
    same(flaky._obs(), clean._obs())
    assert (flaky._num_tokens, flaky._running, flaky._prompt_index) == (
        clean._num_tokens,
        clean._running,
        clean._prompt_index,
    )
    assert flaky.np_random.bit_generator.state == clean.np_random.bit_generator.state


def actions(size: int = B):
    return st.lists(token, min_size=size, max_size=size).map(np.array)


vector_calls = st.lists(
    st.one_of(
        st.builds(lambda a: ("step", {"actions": a}), actions()),
        st.builds(lambda a: ("step", {"actions": a}), actions()),
        st.builds(  # one invalid action among valid ones
            lambda a, row, bad: ("step", {"actions": np.array([*a[:row], bad, *a[row + 1 :]])}),
            actions(),
            st.integers(0, B - 1),
            st.integers(-3, -1) | st.integers(VOCAB, VOCAB + 5),
        ),
        st.builds(lambda a: ("step", {"actions": a}), actions(B + 1) | st.just(np.full(B, 1.5))),
        st.builds(
            lambda mask, index: ("reset", {"options": {"reset_mask": np.array(mask), "prompt_index": index}}),
            st.lists(st.booleans(), min_size=B, max_size=B),
            st.none() | st.integers(-1, len(PROMPTS)) | st.lists(st.integers(0, 3), min_size=1, max_size=B + 1),
        ),
    ),
    max_size=25,
)


@SETTINGS
@given(calls=vector_calls, plan=reward_plans, seed=st.integers(0, 2**16), mode=st.sampled_from(list(AutoresetMode)))
def test_vector_env_equals_a_replay_of_the_calls_that_succeeded(calls, plan, seed, mode):
    def make(reward_model):
        return TextGenVectorEnv(
            B, tokenizer=make_tiny_tokenizer(), reward_model=reward_model, autoreset_mode=mode, **KWARGS
        )

    flaky, clean = make(FlakyReward(plan)), make(count_good)
    calls = [("reset", {"seed": seed}), *calls]
    returns, accepted = run(flaky, calls)
    replayed, _ = run(clean, accepted)
    same(returns, replayed)
    assert_same_state(vector_state(flaky), vector_state(clean))
    counts = flaky.num_tokens.numpy()
    assert ((counts >= 0) & (counts <= KWARGS["max_new_tokens"])).all()
    assert (flaky.attention_mask[:, KWARGS["max_prompt_tokens"] :].sum(1).numpy() == counts).all()
