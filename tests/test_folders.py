"""The cache, work and data folders and their environment variables (nninfo.folders)."""

from pathlib import Path

from nninfo import folders


def test_cache_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("NNINFO_CACHE_DIR", str(tmp_path / "c"))
    assert folders.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NNINFO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert folders.cache_dir() == tmp_path / "nninfo"
    assert folders.checkpoint_cache_dir() == tmp_path / "nninfo" / "checkpoints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert folders.cache_dir() == Path.home() / ".cache" / "nninfo"


def test_work_root(monkeypatch, tmp_path):
    monkeypatch.setenv("NNINFO_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("NNINFO_WORK_DIR", raising=False)
    assert folders.work_root() == tmp_path / "c" / "work"
    monkeypatch.setenv("NNINFO_WORK_DIR", str(tmp_path / "w"))
    assert folders.work_root() == tmp_path / "w"


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NNINFO_CACHE_DIR", str(tmp_path / "c"))  # not below the cache
    monkeypatch.delenv("NNINFO_DATA_DIR", raising=False)
    assert folders.default_data_dir() == Path.home() / ".cache" / "nninfo" / "data"
    assert folders.data_dir_setting("") is None
    monkeypatch.setenv("NNINFO_DATA_DIR", str(tmp_path / "d"))
    assert folders.default_data_dir() == tmp_path / "d"
    assert folders.resolve_data_dir(None) == tmp_path / "d"
    assert folders.resolve_data_dir("~/x") == Path.home() / "x"
    assert folders.data_dir_setting("") == str(tmp_path / "d")
    assert folders.data_dir_setting("given") == "given"
