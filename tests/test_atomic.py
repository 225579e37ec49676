import os

import pytest

from tfclf import atomic


def test_write_text_replaces_whole_file_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_directory_appears_only_on_success(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic.directory(target) as tmp:
            (tmp / "half.bin").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic.directory(target) as tmp:
        (tmp / "full.bin").write_text("x")
        assert not target.exists()
    assert [p.name for p in target.iterdir()] == ["full.bin"]
    with pytest.raises(FileExistsError):
        with atomic.directory(target):
            pass
    assert [p.name for p in target.iterdir()] == ["full.bin"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
