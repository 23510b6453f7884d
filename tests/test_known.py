"""Known differences scoped by platform: the `when:` conditions of conformance/results/known.py.

- a condition reads the host section, or the section of the record's own framework;
- it holds, does not hold, or is on a fact the run did not record (and then does not hold);
- lists mean any of; version comparisons compare release numbers;
- an entry is stale only where its conditions held for a record in its scope;
- a bad `when:` is one clean error naming file, line, entry and field;
- end to end, the CLI marks and reports stale by the environment its workers recorded.
"""
from __future__ import annotations

import json
import textwrap

import pytest

import fakefw
from conformance.errors import CaseError
from conformance.results.known import load_known, mark_known, stale_entries, version_key
from conformance.results.records import Result

ENVIRONMENT = {
    "host": {"machine": "x86_64", "cpu_count": 2,
             "cpu": {"vendor": "GenuineIntel", "isa": {"avx512f": False, "amx_tile": False}}},
    "frameworks": {
        "tensorflow": {"version": "2.21.0", "onednn": {"enabled": False, "TF_ENABLE_ONEDNN_OPTS": "0"},
                       "variables": {"OMP_NUM_THREADS": "1"}},
        "torch": {"version": "2.13.0+cpu", "cpu_capability": "AVX2"},
    },
}
FEATURES = {"conv3d_same": ["3d", "same"]}


def known_file(tmp_path, when: str, match: str = "{framework: tensorflow, check: output}"):
    """A file with one entry `e` and the given `when:` block (YAML, indented under the entry)."""
    text = textwrap.dedent("""\
        known_differences:
          - id: e
            reason: a platform-scoped difference
            link: https://example.org/issue/1
            match: {match}
        """).format(match=match)
    if when:
        text += "    when:\n" + textwrap.indent(textwrap.dedent(when), "      ")
    path = tmp_path / "known.yaml"
    path.write_text(text)
    return path


def record(framework="tensorflow", status="fail", check="output") -> Result:
    api = {"tensorflow": "tf.nn", "torch": "torch.functional", "jax": "jax.lax"}[framework]
    return Result(case="conv3d_same", framework=framework, api=api, device="cpu", dtype="float32", check=check,
                  status=status, message="off by 3x")


def marked(tmp_path, when, environment=ENVIRONMENT, framework="tensorflow",
           match="{framework: tensorflow, check: output}") -> Result:
    entries = load_known(known_file(tmp_path, when, match))
    r = record(framework)
    mark_known([r], entries, FEATURES, environment)
    return r


# ------------------------------------------------------------------------- conditions
@pytest.mark.parametrize("when", [
    "tensorflow.onednn.enabled: false",
    "host.cpu.isa.avx512f: false",
    "host.cpu.vendor: GenuineIntel",
    "tensorflow.onednn.TF_ENABLE_ONEDNN_OPTS: 0",  # a YAML number equals the variable's "0"
    "tensorflow.onednn.TF_ENABLE_ONEDNN_OPTS: '0'",
    "tensorflow.variables.OMP_NUM_THREADS: 1",
    "host.cpu_count: '2'",
    "{tensorflow.onednn.enabled: false, host.cpu.isa.amx_tile: false}",  # every condition holds
    "host.cpu.vendor: [AuthenticAMD, GenuineIntel]",  # any of
    "tensorflow.version: '>=2.21'",
    "tensorflow.version: '>=2.20,<2.22'",
    "tensorflow.version: '==2.21'",
    "tensorflow.version: ['<2.0', '>2.20.5']",
], ids=lambda w: w)
def test_conditions_that_hold_make_the_record_known(tmp_path, when):
    r = marked(tmp_path, when)
    assert r.status == "known" and r.known["id"] == "e"
    assert r.message == "known difference e: off by 3x"


def test_the_known_record_keeps_the_values_that_held(tmp_path):
    r = marked(tmp_path, """\
        tensorflow.onednn.enabled: false
        tensorflow.version: ">=2.21"
        host.cpu.vendor: [AuthenticAMD, GenuineIntel]
        """)
    assert r.known["when"] == {"tensorflow.onednn.enabled": False, "tensorflow.version": "2.21.0",
                               "host.cpu.vendor": "GenuineIntel"}
    assert "when" not in marked(tmp_path, "").known  # no conditions, none recorded


@pytest.mark.parametrize("when", [
    "tensorflow.onednn.enabled: true",
    "host.cpu.isa.avx512f: true",
    "tensorflow.onednn.enabled: 0",  # false is not 0
    "host.cpu_count: true",  # 2 is not true
    "{tensorflow.onednn.enabled: false, host.cpu.isa.amx_tile: true}",  # one of two fails
    "host.cpu.vendor: [AuthenticAMD, HygonGenuine]",
    "host.cpu.vendor: genuineintel",  # exact
    "tensorflow.version: '>=2.22'",
    "tensorflow.version: '<2.21'",
    "tensorflow.version: '>=2.20,<2.21'",
    "tensorflow.version: '!=2.21.0'",
], ids=lambda w: w)
def test_conditions_that_do_not_hold_leave_the_record_failing(tmp_path, when):
    r = marked(tmp_path, when)
    assert r.status == "fail" and r.known is None


@pytest.mark.parametrize("when, environment", [
    ("tensorflow.onednn.enabled: false", {}),  # nothing recorded
    ("tensorflow.onednn.enabled: false", {"host": ENVIRONMENT["host"]}),  # tensorflow did not run
    ("tensorflow.onednn.enabled: false",  # an older TensorFlow that does not report oneDNN
     {"frameworks": {"tensorflow": {"version": "2.15.0"}}}),
    ("tensorflow.onednn.enabled: false",  # ... or reports it as unknown
     {"frameworks": {"tensorflow": {"onednn": {"enabled": None}}}}),
    ("host.cpu.isa.avx512_fp16: false", ENVIRONMENT),  # a flag this host section lacks
    ("tensorflow.version: '>=2.0'", {"frameworks": {"tensorflow": {"version": None}}}),
    ("tensorflow.onednn.enabled.deeper: false", ENVIRONMENT),  # a path through a scalar
], ids=["nothing", "not-run", "older", "unknown", "no-flag", "no-version", "through-scalar"])
def test_a_condition_on_a_fact_not_recorded_does_not_hold(tmp_path, when, environment):
    assert marked(tmp_path, when, environment).status == "fail"


def test_a_null_matches_a_fact_recorded_as_null(tmp_path):
    unset = {"frameworks": {"tensorflow": {"onednn": {"enabled": True, "TF_ENABLE_ONEDNN_OPTS": None}}}}
    assert marked(tmp_path, "tensorflow.onednn.TF_ENABLE_ONEDNN_OPTS: null", unset).status == "known"
    assert marked(tmp_path, "tensorflow.onednn.TF_ENABLE_ONEDNN_OPTS: null").status == "fail"  # it is "0"


def test_a_framework_path_reads_the_records_own_framework(tmp_path):
    # an entry for any framework, conditioned on torch's facts: only torch records can satisfy it
    when = "torch.cpu_capability: AVX2"
    assert marked(tmp_path, when, framework="torch", match="{check: output}").status == "known"
    assert marked(tmp_path, when, framework="tensorflow", match="{check: output}").status == "fail"


@pytest.mark.parametrize("keras, litert, status", [
    ("3.7.0", "1.1.0", "known"), ("3.14.1", "2.1.6", "known"),  # both releases before the fixes
    ("3.15.0", "1.1.0", "fail"), ("3.7.0", "2.2.0", "fail"),  # one of them fixed
])
def test_a_condition_scopes_by_the_version_of_another_package_the_worker_drives(tmp_path, keras, litert, status):
    # the version of Keras (in the torch section) or of ai-edge-litert (nested under the tensorflow
    # section's litert): an entry for a bug of old releases of that package
    environment = {"frameworks": {"torch": {"version": "2.13.0+cpu", "keras": keras,
                                            "litert": {"ai_edge_litert": litert}}}}
    when = """\
        torch.keras: "<3.15"
        torch.litert.ai_edge_litert: "<2.2"
        """
    r = marked(tmp_path, when, environment, framework="torch", match="{framework: torch, check: output}")
    assert r.status == status
    if status == "known":
        assert r.known["when"] == {"torch.keras": keras, "torch.litert.ai_edge_litert": litert}


def test_entries_without_when_ignore_the_environment(tmp_path):
    assert marked(tmp_path, "", environment=None).status == "known"


@pytest.mark.parametrize("version, key", [
    ("2.21", ((2, 21), (1, 0, 0))), ("2.13.0+cpu", ((2, 13, 0), (1, 0, 0))),
    ("2.22.0rc1", ((2, 22, 0), (0, 3, 1))), ("0.4.36.dev20241122", ((0, 4, 36), (0, 0, 20241122))),
    ("v1.2", ((1, 2), (1, 0, 0))), ("not a version", None), ("", None),
])
def test_version_keys(version, key):
    assert version_key(version) == key


@pytest.mark.parametrize("recorded, wanted, holds", [
    ("2.21.0", ">=2.21", True), ("2.21", "==2.21.0", True), ("2.22.0rc1", "<2.22", True),
    ("2.22.0rc1", ">=2.22", False), ("2.13.0+cpu", ">=2.13,<2.14", True), ("2.9.1", ">=2.10", False),
    ("2.10.0", ">2.9", True), ("2.10.0", "<=2.9.9", False), (91002, ">=9", True), ("nightly", ">=0", False),
])
def test_version_comparisons(tmp_path, recorded, wanted, holds):
    env = {"frameworks": {"tensorflow": {"version": recorded}}}
    assert (marked(tmp_path, f"tensorflow.version: '{wanted}'", env).status == "known") is holds


# ------------------------------------------------------------------------- stale entries
def test_stale_only_where_the_conditions_held(tmp_path):
    entries = load_known(known_file(tmp_path, "tensorflow.onednn.enabled: false"))
    passing = [record(status="pass")]
    assert [s["id"] for s in stale_entries(passing, entries, FEATURES, ENVIRONMENT)] == ["e"]
    onednn_on = {"frameworks": {"tensorflow": {"onednn": {"enabled": True}}}}
    assert stale_entries(passing, entries, FEATURES, onednn_on) == []
    assert stale_entries(passing, entries, FEATURES, {}) == []  # not recorded: could not have matched
    # where it held and explained a record, it is not stale
    failing = [record()]
    mark_known(failing, entries, FEATURES, ENVIRONMENT)
    assert failing[0].status == "known" and stale_entries(failing, entries, FEATURES, ENVIRONMENT) == []


@pytest.mark.parametrize("statuses, stale", [("[crashed, flaky]", False), ("crashed", False),
                                              ("[crashed, fail]", True), ("fail", True)])
def test_an_entry_for_intermittent_crashes_is_never_stale(tmp_path, statuses, stale):
    entries = load_known(known_file(tmp_path, "", match=f"{{framework: tensorflow, status: {statuses}}}"))
    found = stale_entries([record(status="pass")], entries, FEATURES, ENVIRONMENT)
    assert [s["id"] for s in found] == (["e"] if stale else [])


def test_only_records_of_the_conditioned_framework_make_an_entry_stale(tmp_path):
    entries = load_known(known_file(tmp_path, "torch.cpu_capability: AVX2", match="{check: output}"))
    assert stale_entries([record("tensorflow", "pass")], entries, FEATURES, ENVIRONMENT) == []
    assert [s["id"] for s in stale_entries([record("torch", "pass")], entries, FEATURES, ENVIRONMENT)] == ["e"]


# ------------------------------------------------------------------------- errors at load time
@pytest.mark.parametrize("when, line, field, words", [
    ("tensorflw.onednn.enabled: false", 7, "when.tensorflw.onednn.enabled",
     ["unknown section 'tensorflw'", "did you mean 'tensorflow'?", "host"]),
    ("host: {cpu: x}", 7, "when.host", ["dotted path of two or more names"]),
    ("host..cpu: x", 7, "when.host..cpu", ["dotted path"]),
    ("tensorflow.onednn: {enabled: false}", 7, "when.tensorflow.onednn", ["expected a value, got a dict",
                                                                          "version comparison"]),
    ("tensorflow.version: '=>2.21'", 7, "when.tensorflow.version", ["not a version comparison: '=>2.21'", ">="]),
    ("tensorflow.version: '>=2.21,<'", 7, "when.tensorflow.version", ["not a version comparison"]),
    ("tensorflow.version: '>=two'", 7, "when.tensorflow.version", ["not a version comparison"]),
    ("tensorflow.version: []", 7, "when.tensorflow.version", ["an empty list never holds"]),
    ("host.cpu.vendor: [a, [b]]", 7, "when.host.cpu.vendor", ["expected a value, got a list"]),
    ("host.cpu.vendor: x\ntorch.version: '>=2'", 8, "when.torch.version",
     ["never holds", "matches only tensorflow records"]),
], ids=["section", "short", "empty-part", "mapping", "operator", "dangling", "not-a-version", "empty-list",
        "nested-list", "other-framework"])
def test_a_bad_when_is_one_clear_error(tmp_path, when, line, field, words):
    path = known_file(tmp_path, when)
    with pytest.raises(CaseError) as info:
        load_known(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: case 'known difference e', field '{field}': "), message
    for word in words:
        assert word in message


@pytest.mark.parametrize("when", ["[a, b]", "{}", "x"])
def test_when_must_be_a_mapping(tmp_path, when):
    path = tmp_path / "known.yaml"
    path.write_text("known_differences:\n  - {id: e, reason: r, link: 'https://x.org', match: {check: output}, "
                    f"when: {when}}}\n")
    with pytest.raises(CaseError, match=r"known.yaml:2: case 'known difference e', field 'when': expected a mapping"):
        load_known(path)


def test_the_librarys_file_loads():
    from pathlib import Path

    assert load_known(Path(__file__).resolve().parent.parent / "cases" / "known_differences.yaml")


# ------------------------------------------------------------------------- relations
def test_a_relation_is_known_only_where_the_entrys_conditions_hold(tmp_path):
    from conformance import Case
    from conformance.adapters.base import Target
    from conformance.search.faults import FAULTS_BY_NAME, FaultyAdapter
    from conformance.check.relations import evaluate_relations

    case = Case.from_dict({"id": "grouped", "op": "conv", "input_shape": [1, 4, 6, 6], "out_channels": 4,
                           "kernel_size": 3, "stride": 2, "padding": 1})
    path = known_file(tmp_path, "host.cpu.isa.avx512f: false",
                      match="{features: [conv_transpose], check: output}")
    entries = load_known(path)
    faulty = FaultyAdapter(fakefw.FakeAdapter(), FAULTS_BY_NAME["one_element_perturbed"])
    target = Target("fakefw", "fakefw.functional", "cpu")

    def vjp(environment):
        records = evaluate_relations(faulty, target, case, "float32", known=entries, environment=environment)
        return next(r for r in records if r.check == "relation_vjp")

    held = vjp(ENVIRONMENT)
    assert held.status == "known" and held.known["when"] == {"host.cpu.isa.avx512f": False}
    assert vjp({"host": {"cpu": {"isa": {"avx512f": True}}}}).status == "fail"
    assert vjp(None).status == "fail"


# ------------------------------------------------------------------------- end to end
CASES = """\
cases:
  - {id: good_conv, op: conv, input_shape: [2, 2, 5, 5], out_channels: 2, kernel_size: 3, padding: same}
  - {id: wrong_output, op: conv, input_shape: [1, 1, 4], out_channels: 1, kernel_size: 2, tags: [fake_wrong]}
"""
KNOWN = """\
known_differences:
  - id: fake-first-element
    reason: The fake framework adds one to the first output element.
    link: https://example.org/fakefw/issues/1
    match: {framework: fakefw, check: output, features: [conv, 1d]}
    when: {fakefw.version: "%s", host.cpu_count: [%s]}
  - id: fake-never-here
    reason: Would be stale, but describes another platform.
    link: https://example.org/fakefw/issues/2
    match: {framework: fakefw, case: "good_*", check: output}
    when: {fakefw.variables.OMP_NUM_THREADS: "not this"}
  - id: fake-never
    reason: Stale where its conditions hold, as here.
    link: https://example.org/fakefw/issues/3
    match: {framework: fakefw, case: "good_*", check: output}
    when: {fakefw.variables.OMP_NUM_THREADS: [1, 2, 3, 4, 5, 6, 7, 8]}
"""


@pytest.mark.parametrize("version, known", [(">=0.0", True), ("<0.0", False)])
def test_the_cli_applies_when_by_the_workers_environment(tmp_path, version, known):
    import os

    from test_cli import results, run_cli

    (tmp_path / "cases.yaml").write_text(CASES)
    (tmp_path / "known.yaml").write_text(KNOWN % (version, os.cpu_count()))
    env = {"OMP_NUM_THREADS": "2"}  # set by the user: the workers run with it
    proc = run_cli(tmp_path, "run", "--cases", "cases.yaml", "--frameworks", "fakefw", "--known", "known.yaml",
                   "--json", "r.json", "--html", "", "--relations", extra_env=env)
    assert proc.returncode == (0 if known else 1), proc.stdout + proc.stderr
    recs, data = results(tmp_path / "r.json")
    assert data["environment"]["frameworks"]["fakefw"]["variables"]["OMP_NUM_THREADS"] == "2"
    wrong = recs[("wrong_output", "fakefw.layer", "float32", "output")]
    # the relations that rely on the wrong output are marked in the worker, by its environment
    relations = [r for k, r in recs.items() if k[0] == "wrong_output" and k[3].startswith("relation_")
                 and r["status"] != "pass"]
    assert relations
    for r in [wrong] + relations:
        if known:
            assert r["status"] == "known"
            assert r["known"]["when"] == {"fakefw.version": "0.0-fake", "host.cpu_count": os.cpu_count()}
        else:
            assert r["status"] == "fail" and "known" not in r
    assert [s["id"] for s in data["stale_known"]] == ["fake-never"]
    assert json.loads(json.dumps(data["environment"]["host"]["cpu"]))["isa"].keys() >= {"avx2", "amx_tile"}
