"""Thin command-line entry points for text-gym (the ``text-gym`` console script)."""
