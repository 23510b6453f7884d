"""The feature model (levels derived from a case, valid combinations), `conformance coverage`, and the
generated cases/combinations.yaml (deterministic, up to date, reaching the goal, small)."""
from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from conformance import load_cases
from conformance.cli import main
from conformance.spec import coverage
from conformance.spec import feature_model as fm
from conformance.spec.case import Case
from conformance.spec.combination_cases import build
from conformance.spec.generate_combinations import generate_text, seed_paths
from conformance.spec.generate_combinations import main as generate_main

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
COMBINATIONS = CASES_DIR / "combinations.yaml"


def case(**fields) -> Case:
    return Case.from_dict({"id": "hand", **fields})


# --------------------------------------------------------------------------- levels, by hand
HAND = [
    (dict(op="conv", input_shape=[1, 3, 8, 7], out_channels=3, kernel_size=3, stride=2, padding="same_lower",
          dilation=2, groups=3, bias=False, dtypes=["float16", "float32"]),
     dict(op="conv", dims="2d", stride="2", dilation="2", grouping="depthwise", padding="same_lower",
          keff_vs_stride="gt", kernel="odd", batch="1", bias="no_bias", channels="2-8", parity="odd",
          output_padding="none"), ["float16", "float32"]),
    (dict(op="conv_transpose", input_shape=[2, 4, 2, 2, 2], out_channels=8, kernel_size=[1, 2, 2], stride=[2, 1, 1],
          padding=[[0, 1], [0, 0], [0, 0]], groups=4, output_padding=[1, 0, 0], dtypes=["bfloat16"]),
     dict(op="conv_transpose", dims="3d", stride="mixed", dilation="1", grouping="multiplier",
          padding="explicit_asymmetric", keff_vs_stride="lt", kernel="non_square", batch="2+", bias="bias",
          channels="2-8", parity="even", output_padding="some"), ["bfloat16"]),
    (dict(op="conv", input_shape=[3, 1, 9], out_channels=12, kernel_size=4, stride=3, padding="causal"),
     dict(op="conv", dims="1d", stride="3+", dilation="1", grouping="none", padding="causal", keff_vs_stride="gt",
          kernel="even", batch="2+", bias="bias", channels="9+", parity="odd", output_padding="none"), ["float32"]),
    (dict(op="conv", input_shape=[1, 6, 6, 6], out_channels=9, kernel_size=1, stride=2, padding=[[0, 0], [0, 0]],
          groups=3, dtypes=["float64"]),
     dict(op="conv", dims="2d", stride="2", dilation="1", grouping="grouped", padding="explicit_zero",
          keff_vs_stride="lt", kernel="1", batch="1", bias="bias", channels="9+", parity="even",
          output_padding="none"), ["float64"]),
    # k_eff (3, 5) against stride 3: one dim equal, none shorter
    (dict(op="conv", input_shape=[1, 1, 9, 10], out_channels=1, kernel_size=3, stride=3, padding=[1, 2],
          dilation=[1, 2]),
     dict(op="conv", dims="2d", stride="3+", dilation="mixed", grouping="none", padding="explicit_symmetric",
          keff_vs_stride="eq", kernel="odd", batch="1", bias="bias", channels="1", parity="odd",
          output_padding="none"), ["float32"]),
]


@pytest.mark.parametrize("fields,levels,dtypes", HAND)
def test_levels_of_hand_built_cases(fields, levels, dtypes):
    rows = fm.case_rows(case(**fields))
    assert rows == [tuple(levels[n] for n in fm.NAMES[:-1]) + (d,) for d in dtypes]


def test_every_factor_is_in_the_hand_table():
    assert set(HAND[0][1]) | {"dtype"} == set(fm.NAMES)


# --------------------------------------------------------------------------- validity
def combo(**levels) -> dict:
    return {fm.INDEX[k]: v for k, v in levels.items()}


INVALID = [
    dict(kernel="1", keff_vs_stride="gt"),  # k_eff = 1 is never above a stride >= 1
    dict(stride="1", keff_vs_stride="lt"),
    dict(kernel="odd", stride="2", keff_vs_stride="eq"),  # k_eff >= 3
    dict(kernel="odd", stride="2", keff_vs_stride="lt"),
    dict(kernel="even", stride="2", keff_vs_stride="lt"),  # k_eff >= 2
    dict(dilation="2", stride="2", keff_vs_stride="eq"),  # (k - 1) * 2 + 1 is odd
    dict(kernel="odd", stride="1", keff_vs_stride="eq"),  # every dim k_eff >= 3 > 1
    dict(dims="1d", stride="mixed"), dict(dims="1d", dilation="mixed"), dict(dims="1d", kernel="non_square"),
    dict(padding="causal", op="conv_transpose"), dict(padding="causal", dims="2d"),
    dict(output_padding="some", op="conv"), dict(output_padding="some", stride="1", dilation="1"),
    dict(grouping="grouped", channels="1"), dict(grouping="depthwise", channels="1"),
    dict(grouping="multiplier", channels="1"),
]
VALID = [
    dict(kernel="1", stride="2", keff_vs_stride="lt"), dict(kernel="odd", stride="3+", keff_vs_stride="eq"),
    dict(kernel="even", stride="2", keff_vs_stride="eq"), dict(kernel="non_square", stride="1", keff_vs_stride="eq"),
    dict(dilation="2", stride="2", keff_vs_stride="lt"),  # kernel 1
    dict(output_padding="some", stride="1", dilation="2"), dict(padding="causal", dilation="3+", grouping="multiplier"),
    dict(dims="3d", stride="mixed", dilation="mixed", kernel="non_square"), dict(grouping="multiplier", channels="2-8"),
]


@pytest.mark.parametrize("levels", INVALID, ids=str)
def test_impossible_combinations_are_excluded(levels):
    assert not fm.is_valid(combo(**levels))


@pytest.mark.parametrize("levels", VALID, ids=str)
def test_possible_combinations_count(levels):
    assert fm.is_valid(combo(**levels))


def test_channel_block_by_hand():
    pairs = {(g, c) for g in fm.FACTORS[fm.INDEX["grouping"]].levels for c in fm.FACTORS[fm.INDEX["channels"]].levels
             if fm.is_valid(combo(grouping=g, channels=c))}
    groupings = ("grouped", "depthwise", "multiplier")
    assert pairs == {("none", "1"), ("none", "2-8"), ("none", "9+")} | set(itertools.product(groupings, ("2-8", "9+")))


def test_free_factors_combine_with_everything():
    for free in ("batch", "bias", "parity", "dtype"):
        f = fm.INDEX[free]
        for lf, g in itertools.product(fm.FACTORS[f].levels, range(len(fm.FACTORS))):
            if g != f:
                assert all(fm.is_valid({f: lf, g: lg}) for lg in fm.FACTORS[g].levels), (free, fm.NAMES[g])


def test_no_case_of_the_library_has_an_invalid_combination():
    """The model never excludes what exists: every combination a real case has is valid."""
    rows = [r for c in load_cases(CASES_DIR) for r in fm.case_rows(c)]
    for t in (2, 3):
        assert fm.covered_combinations(rows, t) <= set(fm.valid_combinations(t))


def test_every_valid_row_has_a_concrete_case():
    """Random valid rows (each factor drawn among the levels still valid) all build: the case builder
    realizes what the validity model admits, and build() checks the levels it derives."""
    rng = random.Random(7)
    for _ in range(300):
        fixed = {}
        for f in rng.sample(range(len(fm.FACTORS)), len(fm.FACTORS)):
            fixed[f] = rng.choice([lv for lv in fm.FACTORS[f].levels if fm.is_valid({**fixed, f: lv})])
        build(tuple(fixed[f] for f in range(len(fm.FACTORS))))


# --------------------------------------------------------------------------- the generated file
@pytest.fixture(scope="module")
def generated() -> str:
    return generate_text(seed_paths(CASES_DIR), COMBINATIONS)


def test_generation_is_deterministic(generated):
    assert generate_text(seed_paths(CASES_DIR), COMBINATIONS) == generated


def test_checked_in_file_is_up_to_date(generated):
    assert COMBINATIONS.read_text(encoding="utf-8") == generated, (
        "cases/combinations.yaml is out of date: run `python -m conformance.spec.generate_combinations`")


def test_library_reaches_the_goal():
    cases = load_cases(CASES_DIR)
    two, three = (coverage.coverage(cases, t) for t in (2, 3))
    assert two.covered == two.valid, [fm.describe(c) for c in two.missing]
    assert three.covered >= 0.9 * three.valid


def test_generated_cases_add_coverage_and_are_small():
    others = [c for c in load_cases(CASES_DIR) if Path(c.origin[0]).name != "combinations.yaml"]
    generated = list(load_cases(COMBINATIONS))
    assert 20 <= len(generated) <= 100 and all(len(c.dtypes) == 1 for c in generated)
    assert coverage.coverage(others, 3).covered < coverage.coverage(others + generated, 3).covered
    for c in generated:
        macs = math.prod(c.output_shape if c.op == "conv" else c.input_shape) \
            * (c.in_channels if c.op == "conv" else c.out_channels) // c.groups * math.prod(c.kernel_size)
        assert c.batch <= 2 and max(c.in_channels, c.out_channels) <= 9 and max(c.in_spatial) <= 12, c.describe()
        assert math.prod(c.output_shape) <= 16384 and macs <= 100_000, c.describe()
        assert c.id.startswith(f"comb_{'conv' if c.op == 'conv' else 'convT'}{c.ndim}d_")


def test_generator_check_option(tmp_path, capsys):
    """With the library already at the goal (combinations.yaml included), nothing is added; --check
    says whether the file equals that."""
    out = tmp_path / "extra.yaml"
    assert generate_main(["--cases", str(CASES_DIR), "--out", str(out)]) == 0
    assert "0 cases" in capsys.readouterr().out
    assert generate_main(["--cases", str(CASES_DIR), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text() + "# edited\n")
    assert generate_main(["--cases", str(CASES_DIR), "--out", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out


# --------------------------------------------------------------------------- `conformance coverage`
def write_cases(tmp_path, dtypes) -> Path:
    path = tmp_path / "one.yaml"
    path.write_text("cases:\n  - {id: one, op: conv, input_shape: [1, 2, 5, 5], out_channels: 2, kernel_size: 3, "
                    f"dtypes: {json.dumps(dtypes)}}}\n")
    return path


def test_coverage_command_counts_one_case(tmp_path, capsys):
    # one row: C(14, 2) = 91 pairs and C(14, 3) = 364 triples; a second dtype adds its 13 pairs
    # with the other factors' levels and its C(13, 2) = 78 triples
    assert main(["coverage", "--cases", str(write_cases(tmp_path, ["float32"]))]) == 0
    out = capsys.readouterr().out
    n2, n3 = len(fm.valid_combinations(2)), len(fm.valid_combinations(3))
    assert f"2-way: 91 of {n2} valid combinations covered ({100 * 91 / n2:.1f}%)" in out
    assert f"3-way: 364 of {n3} valid" in out
    assert f"missing 2-way combinations: {n2 - 91}, the first 20 (--all lists every one)" in out
    assert main(["coverage", "--cases", str(write_cases(tmp_path, ["float32", "float64"])), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["coverage"]["2"]["covered"], data["coverage"]["3"]["covered"]) == (104, 442)
    assert len(data["coverage"]["2"]["missing"]) == n2 - 104
    assert {"op": "conv_transpose", "dims": "1d"} in data["coverage"]["2"]["missing"]


def test_coverage_command_lists_all_and_writes_json(tmp_path, capsys):
    path = write_cases(tmp_path, ["float32"])
    assert main(["coverage", "--cases", str(path), "--all", "--json", str(tmp_path / "c.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    n2, n3 = len(fm.valid_combinations(2)), len(fm.valid_combinations(3))
    assert sum(line.startswith("  ") for line in lines) == (n2 - 91) + (n3 - 364)
    assert "  op=conv_transpose, dims=1d" in lines
    assert json.loads((tmp_path / "c.json").read_text())["coverage"]["3"]["covered"] == 364


def test_coverage_command_bad_cases(capsys):
    assert main(["coverage", "--cases", "no/such/file.yaml"]) == 2
    err = capsys.readouterr().err
    assert "no/such/file.yaml" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_coverage_command_bad_limit(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["coverage", "--limit", "0"])
    assert exc.value.code == 2 and "--limit: invalid integer >= 1 value: '0'" in capsys.readouterr().err
