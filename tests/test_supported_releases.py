"""The oldest supported release of each package the suite drives is declared in four places that must
agree: pyproject.toml's extras (the lower bounds pip enforces), the table in docs/targets.md
(#supported-releases, with the reasons), the README's install notes, and tox.ini's `oldest` env,
which installs exactly those releases and runs the suite on them."""
from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every package the adapters drive; torch is pinned (one release), and so is executorch (built for one
# torch release); the others have a lower bound
PACKAGES = ("torch", "tensorflow-cpu", "keras", "jax", "jaxlib", "flax", "onnx", "onnxruntime", "onnxscript",
            "ai-edge-litert", "openvino", "executorch")
PINNED = ("torch", "executorch")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)\s*(==|>=)\s*([0-9][0-9.]*)$")


def _bounds(requirements) -> dict[str, tuple[str, str]]:
    found = {}
    for text in requirements:
        match = _REQUIREMENT.match(text.strip())
        if match:
            found[match[1].lower()] = (match[2], match[3])
    return found


def pyproject_bounds() -> dict[str, tuple[str, str]]:
    """The frameworks' extras' bounds (not `dev`: the suite's own test tools)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return _bounds(req for name, reqs in extras.items() if name != "dev" for req in reqs
                   if not req.startswith("conv-conformance"))


def docs_table() -> dict[str, str]:
    """`| \\`package\\` | release | why |` rows of the table under docs/targets.md's 'Supported releases'."""
    text = (ROOT / "docs" / "targets.md").read_text()
    section = text.split("\n## Supported releases\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z0-9_.-]+)` \| ([0-9][0-9.]*)\b", section, flags=re.MULTILINE)
    return {name.lower(): version for name, version in rows}


def readme_bounds() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    return _bounds(re.findall(r"`([A-Za-z0-9_.-]+(?:==|>=)[0-9][0-9.]*)`", text))


def tox_oldest_pins() -> dict[str, tuple[str, str]]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    return _bounds(config["testenv:oldest"]["deps"].split("\n"))


def test_every_driven_package_has_a_declared_oldest_release():
    bounds = pyproject_bounds()
    assert set(bounds) == set(PACKAGES), "pyproject.toml's extras: a driven package without a bound, or an extra one"
    assert all(bounds[name][0] == "==" for name in PINNED)
    assert all(op == ">=" for name, (op, _) in bounds.items() if name not in PINNED)


@pytest.mark.parametrize("source, read", [("docs/targets.md", docs_table),
                                          ("README.md", lambda: {k: v for k, (_, v) in readme_bounds().items()})])
def test_docs_declare_the_same_releases_as_pyproject(source, read):
    declared = {name: version for name, (_, version) in pyproject_bounds().items()}
    assert read() == declared, f"{source} and pyproject.toml disagree on the oldest supported releases"


def test_readme_states_the_same_operators():
    assert readme_bounds() == pyproject_bounds()


def test_tox_oldest_installs_exactly_the_lower_bounds():
    floors = {name: ("==", version) for name, (_, version) in pyproject_bounds().items() if name not in PINNED}
    assert tox_oldest_pins() == floors  # the pinned packages come from the extras, at their pins


def test_the_parsers_see_a_disagreement():
    """The comparisons above are only as good as the parsers: a changed release reads as changed."""
    assert _bounds(["keras>=3.7.0", "torch==2.13.0", "conv-conformance[tensorflow]"]) == {
        "keras": (">=", "3.7.0"), "torch": ("==", "2.13.0")}
    assert _bounds(["keras>=3.7.0"]) != _bounds(["keras>=3.8.0"])
