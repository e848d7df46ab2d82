"""Preference data: the pair format and its JSONL files (``pairs.py``), and simulated labelling by a gold
labeller (``labelling.py``)."""
