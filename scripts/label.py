"""``text-gym label serve|stats``: label completions in a local web page; statistics of the labels.

``label serve --env TextGenChat-v0`` (or another chat env) labels the next agent turn of conversations played
through the env with the policy: the page shows the conversation and the candidate turns, and the labels are
conversation pairs.

Thin wrappers: every flag is a field of ``reward_models.human.LabelServerConfig`` or
``LabelStatsConfig``. See docs/labelling.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from scripts.args import add_config_subcommands, config_from_args


def run_serve(args: argparse.Namespace) -> int:
    from reward_models.common import require_extra
    from reward_models.human import LabelServerConfig, make_server, resolve_candidates, resolve_token
    from text_gym import load_prompts

    config = config_from_args(LabelServerConfig, args)
    require_extra("flask", "label", "the labelling page")  # before sampling the candidates, not after
    sample = None if config.env is None else lambda: _conversation_candidates(config)
    candidates = resolve_candidates(config, lambda: load_prompts(config.prompts or "default:test"), sample)
    token = resolve_token(config)
    server = make_server(config, candidates, token)
    host = f"[{config.host}]" if ":" in config.host else config.host
    query = f"?token={token}" if token else ""
    print(
        f"labelling {len(candidates)} prompts into {config.output}; open http://{host}:{server.port}/{query}  "
        "(Ctrl+C stops; every label is already on disk)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.app.extensions["label_store"].close()
    return 0


def _conversation_candidates(config) -> list:
    """``label serve --env``: one conversation per prompt of the chat env, played with the policy, and
    ``completions_per_prompt`` candidate next turns of each."""
    from reward_models.common.devices import resolve_device
    from reward_models.preferences.labelling import load_policy
    from text_gym import load_prompts
    from text_gym.chat.labelling import conversation_candidates, labelling_env

    model, tokenizer = load_policy(config.policy, resolve_device(config.device))
    prompts = None if config.prompts is None else load_prompts(config.prompts)
    env = labelling_env(config.env, tokenizer, config.max_new_tokens, prompts=prompts)
    return conversation_candidates(
        env, model, len(env.task.prompts), config.completions_per_prompt, config.temperature, config.top_p, config.seed
    )


def run_stats(args: argparse.Namespace) -> int:
    from reward_models import make_reward_model
    from reward_models.human import LabelStatsConfig, label_stats

    config = config_from_args(LabelStatsConfig, args)
    reward_model = None if config.reward_model is None else make_reward_model(config.reward_model)
    json.dump({"data": config.data, **label_stats(config.data, reward_model)}, sys.stdout, indent=2)
    print()
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from reward_models.human import LabelServerConfig, LabelStatsConfig

    parser = subparsers.add_parser(
        "label", help="label completions by hand in a local web page; label statistics", description=__doc__
    )
    add_config_subcommands(
        parser,
        "label_command",
        [
            ("serve", LabelServerConfig, run_serve, "serve the labelling page (picks, rankings, edits -> preferences)"),
            (
                "stats",
                LabelStatsConfig,
                run_stats,
                "counts, annotator agreement, reward-model agreement of a label file",
            ),
        ],
    )
