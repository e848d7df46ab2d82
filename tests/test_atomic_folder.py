"""write_folder_atomically's cache mode (replace=False): the first complete folder is kept, never half-written.
The checkpoint mode (replace=True) is pinned in test_checkpoint.py."""

import errno
import os

import pytest

from reward_models import write_folder_atomically


def _write(text):
    def write(folder):
        (folder / "weights").write_text(text)

    return write


def test_keep_mode_writes_once_and_keeps_the_existing_folder(tmp_path):
    target = tmp_path / "cache" / "model"
    assert write_folder_atomically(target, _write("first"), replace=False) == target
    calls = []
    write_folder_atomically(target, lambda folder: calls.append(folder), replace=False)
    assert calls == [] and (target / "weights").read_text() == "first"
    assert os.listdir(target.parent) == ["model"]  # no temporary folder left


def test_keep_mode_drops_its_copy_when_another_process_finished_first(tmp_path):
    target = tmp_path / "model"

    def racing_write(folder):
        (folder / "weights").write_text("mine")
        target.mkdir()  # another process's complete folder appears meanwhile
        (target / "weights").write_text("theirs")

    write_folder_atomically(target, racing_write, replace=False)
    assert (target / "weights").read_text() == "theirs"
    assert os.listdir(tmp_path) == ["model"]


def test_replace_mode_replaces_and_a_failing_write_keeps_the_old_folder(tmp_path):
    target = tmp_path / "ckpt"
    write_folder_atomically(target, _write("v1"))
    write_folder_atomically(target, _write("v2"))
    assert (target / "weights").read_text() == "v2"

    def disk_full(folder):
        (folder / "weights").write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"could not write .*ckpt .*No space left on device.*intact") as caught:
        write_folder_atomically(target, disk_full)
    assert caught.value.errno == errno.ENOSPC
    assert (target / "weights").read_text() == "v2" and os.listdir(tmp_path) == ["ckpt"]
