"""The project's shared utilities, at the bottom of the dependency order: every package may import them, and
they import nothing else of the project.

- ``validation.py``: argument checks (``check_positive_int``).
- ``devices.py``: the ``"auto"`` device rule and dtype names.
- ``packaged.py``: the offline packaged models (``"smollm2"``, ``"minilm"``), the cache folder, tokenizer loading.
- ``lm.py``: the one causal-LM loader and the last-token readers of a causal LM.
- ``atomic_folder.py``: folders written atomically.
- ``jsonl.py``: strict JSONL reading.
- ``quiet.py``: third-party progress bars off while weights load.
- ``extras.py``: optional dependencies and the error naming their extra.
"""
