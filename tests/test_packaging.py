"""The installed package stands on its own: a wheel built from the checkout, installed into a fresh
virtual environment and run from an empty folder outside the repository, finds the case library
and its known differences inside itself (conformance/library/, the repository's cases/).

The fresh environment gets the wheel and, instead of packages from the network, links to the
numpy, PyYAML, Jinja2 and pytest that this interpreter has (no framework: the fake one runs).
"""
from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import fakefw
from conformance.spec.loader import load_cases

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEPENDENCIES = ("numpy", "PyYAML", "Jinja2", "pytest")  # and what they require
pytestmark = pytest.mark.slow  # builds and installs a wheel; runs by default, in CI too


def test_pyproject_lists_every_subpackage_and_maps_the_library():
    """The packages are listed (the library's mapping needs that): a new subpackage must be added."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "conformance").rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk | {"conformance.library"}
    assert tool["package-dir"] == {"conformance.library": "cases"}


def run(args, cwd, env, timeout=120):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the checkout (a build in the checkout would leave build/ there)."""
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("conformance", "cases"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    proc = run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", str(src), "-w", str(tmp / "dist")],
               tmp, os.environ, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp / "dist").glob("conv_conformance-*.whl")
    return wheel


def required(names) -> set[str]:
    """The distributions `names` need, themselves included, as installed here."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        for line in importlib.metadata.requires(name) or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def link_dependencies(site: Path) -> None:
    """Every file of the dependencies' distributions, linked from a folder the environment reads."""
    deps = site.parent / "deps"
    deps.mkdir()
    for name in required(DEPENDENCIES):
        dist = importlib.metadata.distribution(name)
        for top in {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}:
            target = Path(dist.locate_file(top))
            if target.exists() and not (deps / top).exists():
                (deps / top).symlink_to(target)
    (site / "dependencies.pth").write_text(f"{deps}\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the environment's bin folder, its conformance package, an empty folder, the environment variables)."""
    if sys.platform == "win32":
        pytest.skip("the dependencies are linked into the fresh environment with symlinks")
    tmp = tmp_path_factory.mktemp("packaging")
    wheel = build_wheel(tmp)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    proc = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                str(wheel)], tmp, os.environ)
    assert proc.returncode == 0, proc.stderr
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp,
                    {}).stdout.strip())
    link_dependencies(site)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(fakefw.environment_variables(TESTS))  # the fake framework, from tests/ (PYTHONPATH)
    package = Path(run([str(python), "-c", "import conformance; print(conformance.__file__)"], tmp, env).stdout.strip())
    assert package.parent.parent == site, package  # the wheel's, not the checkout's
    empty = tmp / "elsewhere"
    empty.mkdir()
    return venv / "bin", package.parent, empty, env


def test_list_finds_the_packaged_library_from_an_empty_folder(installed):
    bin_dir, package, empty, env = installed
    proc = run([str(bin_dir / "conformance"), "list", "--frameworks", "fakefw"], empty, env)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split("\t")[0] for line in proc.stdout.splitlines() if "\t" in line]
    assert listed == [c.id for c in load_cases(REPO / "cases")]
    assert "fakefw.functional@cpu" in proc.stdout


def test_run_uses_the_packaged_library_and_known_differences(installed):
    bin_dir, package, empty, env = installed
    conformance = str(bin_dir / "conformance")
    proc = run([conformance, "run", "--frameworks", "fakefw", "--case-id", "conv1d_*", "--no-progress"], empty, env)
    assert proc.returncode in (0, 1), proc.stderr  # the fake framework need not pass the library
    data = json.loads((empty / "reports" / "results.json").read_text())
    library = [c.id for c in load_cases(REPO / "cases")]
    assert sorted(data["cases"]) == sorted(i for i in library if fnmatch.fnmatchcase(i, "conv1d_*"))
    assert all(row["origin"].startswith(f"{package / 'library'}{os.sep}") for row in data["cases"].values())
    known = package / "library" / "known_differences.yaml"
    wide = {**env, "COLUMNS": "1000"}  # argparse wraps help at hyphens, and temporary paths have some
    assert f"the library's, {known};" in run([conformance, "run", "--help"], empty, wide).stdout
    hidden = known.rename(known.with_suffix(".hidden"))  # not a .yaml: not a case file either
    try:  # without it, the run and the search refuse, naming the file and the way out
        for command in (["run", "--frameworks", "fakefw"], ["explore", "--frameworks", "fakefw"]):
            proc = run([conformance, *command], empty, env)
            assert proc.returncode == 2
            assert f"--known: no such file: {known}" in proc.stderr and "--known none" in proc.stderr
    finally:
        hidden.rename(known)


def test_pytest_runs_the_packaged_case_files_with_the_packaged_known_differences(installed):
    bin_dir, package, empty, env = installed
    python = str(bin_dir / "python")
    case_file = package / "library" / "conv1d.yaml"
    proc = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(case_file), "--conformance-frameworks",
                "fakefw", "-k", "output and float32"], empty, env)
    assert proc.returncode in (0, 1) and " passed" in proc.stdout, proc.stdout + proc.stderr
    known = package / "library" / "known_differences.yaml"
    hidden = known.rename(known.with_suffix(".hidden"))  # not a .yaml: not a case file either
    try:
        proc = run([python, "-m", "pytest", "-p", "no:cacheprovider", str(case_file)], empty, env)
        assert proc.returncode == pytest.ExitCode.USAGE_ERROR
        assert f"--conformance-known: no such file: {known}" in proc.stderr + proc.stdout
    finally:
        hidden.rename(known)
