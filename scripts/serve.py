"""``text-gym serve``: a registered env served over OpenEnv (HTTP and WebSocket), for OpenEnv clients and the
trainers built on them (docs/libraries.md, "OpenEnv")."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from reward_models.common import check_positive_int
from scripts.args import add_config_command, config_from_args


@dataclass
class ServeConfig:
    """An env behind OpenEnv's server."""

    env: str = field(default="TextGenSupport-v0", metadata={"help": "registered env id (chat envs and single-turn)"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (0.0.0.0: every interface)"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    max_sessions: int = field(
        default=8, metadata={"help": "concurrent WebSocket sessions (one env each); one more is refused"}
    )
    reward_model: str | None = field(default=None, metadata={"help": "reward-model spec; none: the env's own"})
    prompts: str | None = field(
        default=None, metadata={"help": "prompt file or default:train|test|all; none: the env's own"}
    )
    user: str | None = field(
        default=None, metadata={"help": "chat envs only: the simulated user (scripted, lm, ...); none: the env's own"}
    )
    max_turns: int | None = field(default=None, metadata={"help": "chat envs only: agent turns per episode"})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "tokens per episode after the prompt; none: the env's own"}
    )
    gold_reward_model: str | None = field(
        default="task",
        metadata={"help": "gold metric reported at each episode's end: a spec, task (the task's own, if any), none"},
    )

    def __post_init__(self) -> None:
        check_positive_int("max_sessions", self.max_sessions)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in [1, 65535], got {self.port!r}")
        for name in ("max_turns", "max_new_tokens"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))

    def env_kwargs(self) -> dict[str, Any]:
        """The ``gym.make`` keyword arguments of the settings given (the others keep the env's defaults)."""
        names = ("reward_model", "prompts", "user", "max_turns", "max_new_tokens")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def run(args: argparse.Namespace) -> int:
    import uvicorn

    import text_gym  # noqa: F401  (registers the envs)
    from text_gym.serving import make_openenv_app, quiet_closed_sessions

    config = config_from_args(ServeConfig, args)
    app = make_openenv_app(
        config.env,
        env_kwargs=config.env_kwargs(),
        gold_reward_model=config.gold_reward_model,
        max_sessions=config.max_sessions,
    )
    quiet_closed_sessions()
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0


def add_parser(subparsers) -> None:
    add_config_command(subparsers, "serve", ServeConfig, run, "serve an env over OpenEnv (HTTP + WebSocket)", __doc__)
