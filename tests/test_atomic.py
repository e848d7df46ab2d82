"""reward_models.write_atomically: the one atomic folder writer (checkpoints and model caches)."""

import pytest

from reward_models import write_atomically


def _writer(text):
    def write(folder):
        (folder / "file.txt").write_text(text)

    return write


def test_replace_swaps_in_the_new_folder_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "out"
    assert write_atomically(target, _writer("old")) == target
    write_atomically(target, _writer("new"))
    assert (target / "file.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_keep_does_not_rewrite_an_existing_folder(tmp_path):
    target = tmp_path / "cache"
    write_atomically(target, _writer("first"), replace=False)
    calls = []
    write_atomically(target, lambda folder: calls.append(folder), replace=False)
    assert calls == [] and (target / "file.txt").read_text() == "first"


@pytest.mark.parametrize("replace", [True, False])
def test_a_failing_write_leaves_the_old_folder_and_no_temporaries(tmp_path, replace):
    target = tmp_path / "out"
    if replace:
        write_atomically(target, _writer("old"))

    def fail(folder):
        (folder / "partial.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail, replace=replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if replace else [])
    if replace:
        assert (target / "file.txt").read_text() == "old"
