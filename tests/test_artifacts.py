"""The export and conversion artifacts kept between runs (conformance/adapters/artifacts.py): a hit
gives what a miss gives (bytes, refusal, warnings); another key, no folder or a damaged entry makes
the artifact again."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conformance.adapters import artifacts
from conformance.adapters.base import SHARED_CACHE_VARIABLE, Adapter, Unsupported
from conformance.adapters.refusal import Refusal


class Exporter(Adapter):
    refusals = (Refusal("ValueError", "no such op|never asked", "test"),)


class Maker:
    """A stand-in exporter: counts its calls, warns inside the adapter's native() as a framework does."""

    def __init__(self, adapter, result=b"model", refusal=None):
        self.adapter, self.result, self.refusal, self.calls = adapter, result, refusal, 0

    def __call__(self):
        self.calls += 1
        with self.adapter.native():
            warnings.warn("exporter says so", UserWarning)
            if self.refusal:
                raise ValueError(self.refusal)
        return self.result


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_CACHE_VARIABLE, str(tmp_path))
    return tmp_path


def test_a_hit_gives_the_bytes_and_the_warnings_without_making(shared):
    first, second = Adapter(), Adapter()
    make = Maker(first)
    assert artifacts.made(first, "onnx", lambda: {"layer": "Conv2d(1, 2)"}, make) == b"model"
    assert first.take_warnings() == ["UserWarning: exporter says so"]
    again = Maker(second, result=b"other")
    assert artifacts.made(second, "onnx", lambda: {"layer": "Conv2d(1, 2)"}, again) == b"model"
    assert again.calls == 0 and second.take_warnings() == ["UserWarning: exporter says so"]


def test_a_refusal_is_kept_with_its_text(shared):
    adapter = Exporter()
    makers = [Maker(adapter, refusal="no such op"), Maker(adapter, refusal="never asked")]
    for make in makers:
        with pytest.raises(Unsupported, match="^ValueError: no such op$"):
            artifacts.made(adapter, "litert", lambda: {"k": 1}, make)
        assert adapter.take_warnings() == ["UserWarning: exporter says so"]
    assert [m.calls for m in makers] == [1, 0]


def test_the_key_decides(shared):
    adapter = Adapter()
    a, b = Maker(adapter, b"a"), Maker(adapter, b"b")
    one, other = np.zeros(3), np.ones(3)
    assert artifacts.digest(one) != artifacts.digest(other) != artifacts.digest(other.astype(np.float32))
    assert artifacts.made(adapter, "onnx", lambda: {"parameters": artifacts.digest(one)}, a) == b"a"
    assert artifacts.made(adapter, "onnx", lambda: {"parameters": artifacts.digest(other)}, b) == b"b"
    assert artifacts.made(adapter, "litert", lambda: {"parameters": artifacts.digest(one)}, b) == b"b"  # kinds apart
    assert (a.calls, b.calls) == (1, 2)


def test_warnings_before_the_making_stay_first_and_once(shared):
    adapter = Adapter()
    with adapter.native():
        warnings.warn("exporter says so", UserWarning)
        warnings.warn("the layer said this first", UserWarning)
    assert artifacts.made(adapter, "onnx", lambda: {"k": 2}, Maker(adapter)) == b"model"
    assert adapter.take_warnings() == ["UserWarning: exporter says so", "UserWarning: the layer said this first"]


def test_without_the_runs_folder_nothing_is_kept(monkeypatch):
    monkeypatch.delenv(SHARED_CACHE_VARIABLE, raising=False)
    adapter = Adapter()
    make = Maker(adapter)
    for _ in range(2):
        assert artifacts.made(adapter, "onnx", lambda: pytest.fail("the key is computed"), make) == b"model"
    assert make.calls == 2 and artifacts.location() is None


def test_a_damaged_entry_is_made_again(shared):
    adapter = Adapter()
    make = Maker(adapter)
    artifacts.made(adapter, "onnx", lambda: {"k": 4}, make)
    (entry,) = (shared / "artifacts" / "onnx").iterdir()
    entry.write_bytes(b"not json\n")
    assert artifacts.made(adapter, "onnx", lambda: {"k": 4}, make) == b"model" and make.calls == 2


def test_a_failure_is_not_kept(shared):
    """An exception no refusal declares is an error of this unit; the next run tries again."""
    adapter = Exporter()
    makers = [Maker(adapter, refusal="internal error"), Maker(adapter, b"made")]
    with pytest.raises(ValueError, match="internal error"):
        artifacts.made(adapter, "litert", lambda: {"k": 2}, makers[0])
    assert artifacts.made(adapter, "litert", lambda: {"k": 2}, makers[1]) == b"made"
    assert [m.calls for m in makers] == [1, 1]


def test_the_installed_code_of_a_package_is_its_files(tmp_path, monkeypatch):
    """Another build of the same version (a file edited in place) is other code: artifacts made by
    the first are not served to the second."""
    package = tmp_path / "fakepkg_for_artifacts"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '1.0'\n")
    (package / "sub" / "layer.py").write_text("def call(x):\n    return x\n")
    (package / "README.txt").write_text("not code")
    monkeypatch.syspath_prepend(str(tmp_path))
    artifacts.installed_code.cache_clear()
    before = artifacts.installed_code("fakepkg_for_artifacts")
    (package / "README.txt").write_text("still not code, longer")
    artifacts.installed_code.cache_clear()
    assert artifacts.installed_code("fakepkg_for_artifacts") == before
    (package / "sub" / "layer.py").write_text("def call(x):\n    raise RuntimeError('patched')\n")
    artifacts.installed_code.cache_clear()
    assert artifacts.installed_code("fakepkg_for_artifacts") != before
    assert artifacts.installed_code("no_such_package_for_artifacts") is None
