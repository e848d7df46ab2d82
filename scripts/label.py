"""``text-gym label serve|stats``: label completions in a local web page; statistics of the labels.

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
    candidates = resolve_candidates(config, lambda: load_prompts(config.prompts))
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
