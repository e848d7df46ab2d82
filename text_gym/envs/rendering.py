"""What ``render()`` gives in each render mode, for every TextGen env; the frames of ``render_mode="rgb_array"``
draw the prompt and the completion so far as an RGB image.

Drawn with Pillow's default font (``ImageFont.load_default``, the bundled Aileron FreeType font of Pillow >= 10.1),
so no font file has to be installed. The frame size is fixed, as video encoders (Gymnasium's ``RecordVideo``, RL
Zoo's ``record_video``) require; text that does not fit is cut from the top, so the end of the completion stays
visible, and the first kept line starts with "…". Characters the font lacks are drawn as boxes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FRAME_WIDTH = 512
"""Frame width in pixels (a multiple of 16, as video encoders want)."""
FRAME_HEIGHT = 256
"""Frame height in pixels (a multiple of 16)."""
FONT_SIZE = 14
MARGIN = 8
PROMPT_COLOUR = (40, 40, 40)
COMPLETION_COLOUR = (0, 70, 200)
STATUS_COLOUR = (120, 120, 120)


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _wrap(text: str, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels: at newlines, at spaces, and inside words wider than
    a line."""
    font, lines = _font(), []
    for paragraph in text.split("\n"):
        line = ""
        for word in re.findall(r" *[^ ]+| +$", paragraph):  # each word with the spaces before it
            if font.getlength(line + word) <= width:
                line += word
                continue
            if line:
                lines.append(line)
                word = word.lstrip(" ")
            while font.getlength(word) > width:  # a word wider than a line: cut it where it stops fitting
                cut = next(k for k in range(len(word), 0, -1) if font.getlength(word[:k]) <= width)
                lines.append(word[: max(cut, 1)])
                word = word[max(cut, 1) :]
            line = word
        lines.append(line)
    return lines


def render_frame(prompt: str, completion: str, status: str) -> np.ndarray:
    """uint8 ``[FRAME_HEIGHT, FRAME_WIDTH, 3]``: ``prompt`` in dark grey, then ``completion`` in blue (word-wrapped,
    each starting on a new line), and ``status`` in grey on the bottom line; white background."""
    font = _font()
    width = FRAME_WIDTH - 2 * MARGIN
    line_height = sum(font.getmetrics()) + 2
    capacity = (FRAME_HEIGHT - 2 * MARGIN) // line_height - 1  # the bottom line is the status
    lines = [(line, PROMPT_COLOUR) for line in _wrap(prompt, width)]
    lines += [(line, COMPLETION_COLOUR) for line in _wrap(completion, width)]
    if len(lines) > capacity:
        lines = lines[len(lines) - capacity :]
        lines[0] = ("…" + lines[0][0], lines[0][1])
    image = Image.new("RGB", (FRAME_WIDTH, FRAME_HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for index, (line, colour) in enumerate(lines):
        draw.text((MARGIN, MARGIN + index * line_height), line, fill=colour, font=font)
    draw.text((MARGIN, FRAME_HEIGHT - MARGIN - line_height), status, fill=STATUS_COLOUR, font=font)
    return np.asarray(image, dtype=np.uint8)


Parts = tuple[str, str, str]
"""(prompt, completion so far, status such as ``"n/N tokens"``) of one episode; status ``""``: no episode."""


def episode_text(prompt: str, completion: str, status: str) -> str:
    """``prompt⟦completion⟧ [status]`` (the prompt alone when there is no episode, ``status == ""``)."""
    return f"{prompt}⟦{completion}⟧ [{status}]" if status else prompt


def render_episodes(render_mode: str | None, parts: Sequence[Parts], numbered: bool) -> list | None:
    """What ``render()`` gives for episodes ``parts``: one text each (``"ansi"``), one uint8 frame
    ``[FRAME_HEIGHT, FRAME_WIDTH, 3]`` each (``"rgb_array"``), or None (``"human"`` prints the texts, one line each;
    ``None``). ``numbered``: prefix each text with ``[row]`` (the vector envs)."""
    if render_mode == "rgb_array":
        return [render_frame(*part) for part in parts]
    texts = [(f"[{row}] " if numbered else "") + episode_text(*part) for row, part in enumerate(parts)]
    if render_mode == "ansi":
        return texts
    if render_mode == "human":
        print("\n".join(texts))
    return None
