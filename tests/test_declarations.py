"""The table of target declarations (spec/frameworks.py): what is derived from it, the docs' table
against it, and plugins through the entry point group conv_conformance.targets, well-formed or not."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fakefw
from conformance.errors import UsageError
from conformance.spec import frameworks
from conformance.spec.frameworks import BUILTIN, Declaration

ROOT = Path(__file__).resolve().parent.parent
UNCACHED = frameworks.declarations.__wrapped__  # read the entry points on every call
ROW = re.compile(r"^\| `(?P<api>[^`]+)`(?P<cpu> \(cpu only\))? \| (?P<kind>[^|]+?) \| [^|]+ \| (?P<checks>[^|]+) \|$")


def doc_rows() -> list[dict]:
    text = (ROOT / "docs" / "targets.md").read_text(encoding="utf-8")
    return [m.groupdict() for m in map(ROW.match, text.splitlines()) if m]


def test_the_docs_target_table_lists_every_declaration_as_declared():
    rows = doc_rows()
    assert [r["api"] for r in rows] == [d.api for d in BUILTIN]
    for row, d in zip(rows, BUILTIN):
        assert row["kind"] == d.kind, row
        assert bool(row["cpu"]) == d.cpu_only, row
        assert ("forward only" in row["checks"]) == d.forward_only, row


def test_what_is_derived_from_the_table():
    # worked out from the table by hand, not by the functions under test
    assert frameworks.kinds()[:5] == ("torch", "tensorflow", "jax", "tensorflow-onednn", "onnx")  # then any newer
    assert frameworks.kind_packages("onnx") == ("onnx",) and frameworks.api_packages("onnxruntime") == ("onnxruntime",)
    assert frameworks.api_packages("torch.onnx.layer") == ("onnx", "onnxscript", "onnxruntime")
    assert frameworks.kind_variables("tensorflow-onednn") == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert frameworks.kind_variables("torch") == {}
    assert frameworks.kind_adapter("tensorflow-onednn") == ("conformance.adapters.tensorflow_adapter", "TensorFlowAdapter")
    assert frameworks.api_devices("litert.layer") == ("cpu",) and frameworks.api_devices("tf.nn") == ("cpu", "gpu")
    assert frameworks.forward_only("onnx.reference") and not frameworks.forward_only("torch.compile.layer")
    assert frameworks.declaration("keras.jax.layer").keras_backend == "jax"
    assert frameworks.declaration("tf.nn").keras_backend is None
    assert frameworks.kind_apis("jax") == ("jax.lax", "flax.layer", "keras.jax.layer", "keras.jax.ops")
    with pytest.raises(KeyError):
        frameworks.declaration("no.such.api")


def test_the_adapters_own_api_lists_are_their_kinds(monkeypatch):
    from conformance.adapters.torch_adapter import TorchAdapter

    assert TorchAdapter.apis == frameworks.kind_apis("torch")


def declare(monkeypatch, tmp_path, code: str, name: str = "myplugin"):
    """This process with one more plugin (in tmp_path), its declarations read afresh."""
    fakefw.write_plugin(tmp_path, name, code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, f"{name}_targets", raising=False)  # another test's module of that name
    monkeypatch.setattr(frameworks, "declarations", UNCACHED)


GOOD = ("from conformance.spec.frameworks import Declaration\n"
        "DECLARATIONS = [Declaration('my.functional', 'myfw', 'my_adapter:MyAdapter', ('numpy',), devices=('cpu',),\n"
        "                            forward_only=True, variables={'MY_SWITCH': '1'})]\n")


def test_a_plugin_declares_what_an_in_tree_target_can(monkeypatch, tmp_path):
    declare(monkeypatch, tmp_path, GOOD.replace("forward_only=True", "forward_only=True, path='my_paths:Functional'"))
    assert "myfw" in frameworks.kinds() and frameworks.kind_apis("myfw") == ("my.functional",)
    assert frameworks.forward_only("my.functional") and frameworks.api_devices("my.functional") == ("cpu",)
    assert frameworks.kind_variables("myfw") == {"MY_SWITCH": "1"}
    assert frameworks.kind_adapter("myfw") == ("my_adapter", "MyAdapter")
    assert frameworks.declaration("my.functional").path == "my_paths:Functional"


PATHS = """
from conformance.adapters.base import Adapter, Observation
from conformance.adapters.path import Path


class MyAdapter(Adapter):
    def __init__(self):
        self.calls = []


class Functional(Path):
    def native_weight_shape(self, case):
        return ("native", self.api)

    def run(self, case, dtype, device, inputs):
        self.adapter.calls.append((self.api, case, dtype, device, inputs))
        return Observation(output=None, notes=[f"ran by {type(self).__name__}"])
"""


def test_an_adapter_runs_each_api_by_the_path_class_its_declaration_names(monkeypatch, tmp_path):
    declare(monkeypatch, tmp_path, GOOD.replace("]\n", ", Declaration('my.layer', 'myfw', 'my_adapter:MyAdapter', "
                                                      "('numpy',), variables={'MY_SWITCH': '1'})]\n").replace(
        "forward_only=True", "forward_only=True, path='my_adapter:Functional'"))
    (tmp_path / "my_adapter.py").write_text(PATHS)
    monkeypatch.delitem(sys.modules, "my_adapter", raising=False)
    monkeypatch.setenv("MY_SWITCH", "1")  # the kind's variables, which loading it would set in this process
    from conformance.adapters import load_adapter

    adapter = load_adapter("myfw")
    path = adapter.paths["my.functional"]
    assert type(path).__name__ == "Functional" and path.adapter is adapter and path.api == "my.functional"
    assert set(adapter.paths) == {"my.functional"}  # my.layer names no path class: its adapter would run it
    obs = adapter.run("my.functional", "the case", "float32", "cpu", "the inputs")
    assert obs.notes == ["ran by Functional"]
    assert adapter.calls == [("my.functional", "the case", "float32", "cpu", "the inputs")]
    assert adapter.native_weight_shape("my.functional", "the case") == ("native", "my.functional")
    with pytest.raises(NotImplementedError, match="no path for 'my.layer'"):
        adapter.run("my.layer", "the case", "float32", "cpu", "the inputs")


def test_every_builtin_api_names_a_path_class_of_the_adapters():
    from conformance.adapters.path import Path as PathClass, path_class

    for d in BUILTIN:
        assert d.path.startswith("conformance.adapters."), d.api
        cls = path_class(d.api)
        assert isinstance(cls, type) and issubclass(cls, PathClass), d.api


@pytest.mark.parametrize("code, expected", [
    ("raise ImportError('no module named myfw_core')\n", "failed to load: ImportError: no module named myfw_core"),
    ("DECLARATIONS = {'my.functional': 'myfw'}\n", "gives a dict; it must give a list of Declaration"),
    ("from conformance.spec.frameworks import Declaration\nDECLARATIONS = [Declaration('my.functional', 'myfw')]\n",
     "failed to load: TypeError: Declaration.__init__() missing 2 required positional arguments: 'adapter' and "
     "'packages'"),
    (GOOD.replace("'my.functional'", "'tf.nn'"), "target 'tf.nn' is one of the suite's own"),
    (GOOD.replace("'myfw'", "'torch'"), "kind 'torch' is one of the suite's own"),
    (GOOD.replace("'my_adapter:MyAdapter'", "'my_adapter.MyAdapter'"), "adapter 'my_adapter.MyAdapter' must be 'module:Class'"),
    (GOOD.replace("devices=('cpu',)", "devices=('tpu',)"), "devices ('tpu',) must be a non-empty tuple of cpu, gpu"),
    (GOOD.replace("]\n", "] * 2\n"), "target 'my.functional' is declared by"),
    (GOOD.replace("forward_only=True", "forward_only=True, path='my_paths.Functional'"),
     "path 'my_paths.Functional' must be 'module:Class'"),
], ids=["import-error", "wrong-type", "missing-field", "builtin-api", "builtin-kind", "adapter", "devices", "duplicate",
        "path"])
def test_a_malformed_plugin_is_one_error_naming_its_entry_point(monkeypatch, tmp_path, code, expected):
    declare(monkeypatch, tmp_path, code)
    with pytest.raises(UsageError) as caught:
        frameworks.declarations()
    message = str(caught.value)
    assert "\n" not in message and expected in message, message
    assert message.startswith("plugin entry point 'myplugin' (myplugin_targets:DECLARATIONS) of myplugin 0.0"), message


def test_two_plugins_declaring_one_api_are_an_error(monkeypatch, tmp_path):
    declare(monkeypatch, tmp_path / "a", GOOD, name="first")
    declare(monkeypatch, tmp_path / "b", GOOD.replace("'myfw'", "'otherfw'"), name="second")
    with pytest.raises(UsageError, match=r"'second' .*: target 'my.functional' is declared by plugin entry point 'first'"):
        frameworks.declarations()


@pytest.mark.parametrize("argv", [["-m", "conformance", "list", "--cases", "c.yaml"],
                                  ["-m", "conformance.search.faults", "--frameworks", "fakefw"]], ids=["cli", "faults"])
def test_a_malformed_plugin_stops_a_command_with_one_line_and_exit_2(tmp_path, argv):
    (tmp_path / "c.yaml").write_text("cases:\n  - {id: a, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2}\n")
    env = {**os.environ, **fakefw.write_plugin(tmp_path / "plugin", "badplugin", "import no_such_module_for_plugin\n")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    proc = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "plugin entry point 'badplugin'" in proc.stderr and "No module named 'no_such_module_for_plugin'" in proc.stderr


def test_declarations_are_frozen():
    with pytest.raises(AttributeError):
        BUILTIN[0].api = "other"  # type: ignore[misc]
    assert isinstance(BUILTIN[0], Declaration)
