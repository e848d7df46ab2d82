"""render_mode="rgb_array": the frames video recorders take, from the single and the vector env."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.wrappers import RecordVideo
from test_env import EOS, make_env
from test_vector import make_vec

from text_gym.envs.rendering import COMPLETION_COLOUR, FRAME_HEIGHT, FRAME_WIDTH, MARGIN, _font, _wrap, render_frame


def colour_pixels(frame: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((frame == np.array(colour, dtype=np.uint8)).all(axis=-1).sum())


def test_frame_shows_the_completion_as_it_grows():
    env = make_env(render_mode="rgb_array")
    env.reset(options={"prompt_index": 0})
    empty = env.render()
    assert empty.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3) and empty.dtype == np.uint8
    assert colour_pixels(empty, COMPLETION_COLOUR) == 0 and (empty != 255).any()  # the prompt is drawn
    good = env.task.tokenizer.convert_tokens_to_ids("good")
    env.step(good)
    one = env.render()
    env.step(good)
    two = env.render()
    assert 0 < colour_pixels(one, COMPLETION_COLOUR) < colour_pixels(two, COMPLETION_COLOUR)
    np.testing.assert_array_equal(two, render_frame("the movie was", "good good", "2/5 tokens"))


def test_text_that_does_not_fit_is_cut_from_the_top_and_lines_fit_the_width():
    width = FRAME_WIDTH - 2 * MARGIN
    text = "supercalifragilistic " * 60 + "x" * 200 + "\nlast words"
    lines = _wrap(text, width)
    assert all(_font().getlength(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert lines[-1] == "last words" and len(lines) > 15
    frame = render_frame("prompt", text, "8/8 tokens")
    assert frame.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    assert colour_pixels(frame[: FRAME_HEIGHT // 2], COMPLETION_COLOUR) > 0  # the completion's tail fills the frame


def test_vector_env_renders_one_frame_per_sub_env_like_the_single_env():
    envs = make_vec(2, render_mode="rgb_array")
    envs.reset(options={"prompt_index": np.array([0, 2])})
    envs.step(np.array([5, 6]))
    frames = envs.render()
    assert len(frames) == 2
    for row, index, token in ((0, 0, 5), (1, 2, 6)):
        single = make_env(render_mode="rgb_array", max_new_tokens=4)
        single.reset(options={"prompt_index": index})
        single.step(token)
        np.testing.assert_array_equal(frames[row], single.render())
    with pytest.raises(ValueError, match="render_mode must be None, 'ansi', 'human' or 'rgb_array'"):
        make_vec(2, render_mode="rgb")


def test_record_video_writes_an_episode(tmp_path):  # RecordVideo needs moviepy: the libs extra has it
    folder = tmp_path / "videos"
    env = RecordVideo(make_env(render_mode="rgb_array"), str(folder), episode_trigger=lambda _: True)
    env.reset(seed=0)
    for _ in range(3):
        env.step(5)
    env.step(EOS)
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
