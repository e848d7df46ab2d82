"""The benchmarks behind ``text-gym bench …``: one module per sub-command (``cli.py`` lists them; each a config
dataclass, its cases and its report), the training cases two of them share (``iteration.py``: PPO, ``group.py``:
GRPO / RLOO) and the harness they run on: ``runner.py`` (a case in a fresh process), ``memory.py`` (peak memory),
``phases.py`` (iteration and phase times through public hooks), ``measure.py`` (one training case measured),
``results.py`` (outputs rewritten after every case), ``trl_cases.py`` (TRL's trainers), ``models.py`` (the models
the benchmarks build) and ``report.py`` (machine info, figures, generated doc sections)."""
