"""SB3 callbacks in the agents' learn loop: what ``learn(callback=...)`` accepts becomes one ``BaseCallback``."""

from __future__ import annotations

from typing import Any


def init_callback(callback: Any, model: Any) -> Any:
    """``callback`` (an SB3 ``BaseCallback``, a list of them, a callable ``(locals, globals) -> bool`` or None) as
    one initialised ``BaseCallback`` bound to ``model`` (or None)."""
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback

    if callback is None:
        return None
    if isinstance(callback, list):
        callback = CallbackList(callback)
    elif not isinstance(callback, BaseCallback):
        callback = ConvertCallback(callback)
    callback.init_callback(model)
    return callback
