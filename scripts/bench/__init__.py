"""The benchmarks behind ``text-gym bench …``: one module per sub-command (``cli.py`` lists them) and the
pieces they share (fresh-process cases, reports)."""
