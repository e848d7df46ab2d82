"""The incremental results writer: ``results.json`` and ``results.md`` (and, optionally, a generated doc section)
rewritten after every measured case, so that a run stopped part-way (a time limit) keeps what it measured, marked
partial."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.bench.report import write_doc


def partial_line(measured: int, planned: int) -> list[str]:
    """The report's note on a run that has not measured all its cases yet (nothing once it has)."""
    return [f"**Partial**: {measured} of {planned} cases measured so far.", ""] if measured < planned else []


class ResultsWriter:
    """Collects a benchmark's results and rewrites its outputs after every case.

    Args:
        out: folder of ``results.json`` and ``results.md`` (created).
        results: what ``results.json`` holds; the writer adds ``planned_cases``, ``measured_cases``, ``partial``
            and ``total_wall_s`` (since the writer was made), and a list per part ``add`` is given.
        planned_cases: the cases the run means to measure; fewer measured is ``partial``.
        render: the markdown report of ``results`` (``results.md``, and the doc section unless ``render_doc``).
        doc: markdown file whose generated section ``doc_name`` is replaced too (None: no doc).
        doc_name: the section's name (``text-gym bench NAME --doc``).
        derive: called with ``results`` before each write, to refresh what is computed from the rows (ratios).
        bar: a progress bar advanced by one per case (None: none).
        render_doc: the doc section's markdown of ``results``, where it differs from ``results.md``.
    """

    def __init__(
        self,
        out: Path,
        results: dict[str, Any],
        planned_cases: int,
        render: Callable[[dict[str, Any]], str],
        doc: str | None = None,
        doc_name: str = "",
        derive: Callable[[dict[str, Any]], None] | None = None,
        bar: Any = None,
        render_doc: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self.out, self.render, self.doc, self.doc_name, self.derive, self.bar = out, render, doc, doc_name, derive, bar
        self.render_doc = render_doc or render
        self.plots: list[Path] = []
        """Plots copied beside the doc (set once they are drawn)."""
        self.start = time.perf_counter()
        self.results = results
        results.update(planned_cases=planned_cases, measured_cases=0, partial=planned_cases > 0, total_wall_s=0.0)
        out.mkdir(parents=True, exist_ok=True)

    def add(self, part: str, row: dict[str, Any]) -> None:
        """Append ``row`` to ``results[part]`` as one measured case and rewrite the outputs."""
        self.results.setdefault(part, []).append(row)
        self.results["measured_cases"] += 1
        if self.bar is not None:
            self.bar.update(1)
        self.write()

    def write(self) -> None:
        """Rewrite ``results.json``, ``results.md`` and the doc section from the results so far."""
        results = self.results
        results["total_wall_s"] = time.perf_counter() - self.start
        results["partial"] = results["measured_cases"] < results["planned_cases"]
        if self.derive is not None:
            self.derive(results)
        (self.out / "results.json").write_text(json.dumps(results, indent=2))
        markdown = self.render(results)
        (self.out / "results.md").write_text(markdown + "\n")
        if self.doc is not None:
            doc_markdown = markdown if self.render_doc is self.render else self.render_doc(results)
            write_doc(Path(self.doc), self.doc_name, doc_markdown, self.plots)
