"""Generated document sections of the benchmarks (scripts/bench/report.py)."""

from __future__ import annotations

from scripts.bench.report import doc_markers, write_doc


def test_write_doc_replaces_only_its_own_section_and_creates_a_new_document(tmp_path):
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"png")
    algos, speed = doc_markers("algos"), doc_markers("speed")
    doc = tmp_path / "bench.md"
    doc.write_text(f"top\n{algos[0]}\nold algos\n{algos[1]}\nmiddle\n{speed[0]}\nold speed\n{speed[1]}\nend\n")
    write_doc(doc, "speed", "new speed", [plot])
    assert (
        doc.read_text() == f"top\n{algos[0]}\nold algos\n{algos[1]}\nmiddle\n{speed[0]}\nnew speed\n{speed[1]}\nend\n"
    )

    fresh = tmp_path / "gpu" / "benchmarks.md"
    write_doc(fresh, "algos", "gpu results", [plot])
    assert fresh.read_text() == f"{algos[0]}\ngpu results\n{algos[1]}\n"
    assert (tmp_path / "gpu" / "plot.png").read_bytes() == b"png"


def test_write_doc_leaves_plots_already_beside_the_document(tmp_path):
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"png")
    write_doc(tmp_path / "bench.md", "speed", "results", [plot])
    assert plot.read_bytes() == b"png"
