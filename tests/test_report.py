"""The HTML report: self-contained, escaped, structured, deterministic; its data model."""
from __future__ import annotations

import base64
import gzip
import json
import random
import re
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

from conformance.check.compare import compare, detail
from conformance.report.html import render, write_report
from conformance.report.model import build_model
from conformance.report.values import base_id, filter_token, format_ratio, id_features, target_label
from conformance.results.records import Result, RunResults

EVIL = "conv2d <script>alert(1)</script>"


def _failing_record() -> Result:
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(1, 2, 9, 9))
    got = expected.copy()
    got[0, 1, 6, 7] += 1e-3
    bound = np.full(expected.shape, 1e-5)
    c = compare(expected, got, bound)
    return Result(case="conv2d[stride=2,padding=same]", framework="tensorflow", api="tf.nn", device="cpu",
                  dtype="float32", check="output", status="fail", message=f"error {c.ratio:.3g}x its bound",
                  max_abs_error=c.max_abs_error, error_ratio=c.ratio, worst_index=c.worst_index,
                  expected=c.expected, got=c.got, arithmetic="float32",
                  call="tf.nn.conv2d(x, w, strides=[1, 2, 2, 1], padding='SAME')",
                  detail=detail(expected, got, bound, c.worst_index))


def sample() -> RunResults:
    def r(case, status, **kw):
        kw.setdefault("framework", "torch")
        kw.setdefault("api", "torch.functional")
        kw.setdefault("device", "cpu")
        kw.setdefault("dtype", "float32")
        kw.setdefault("check", "output")
        return Result(case=case, status=status, **kw)

    records = [
        r("conv2d[stride=1,padding=valid]", "pass", error_ratio=0.01),
        r("conv2d[stride=1,padding=valid]", "pass", check="grad_input", error_ratio=0.02),
        r("conv2d[stride=2,padding=same]", "pass", error_ratio=0.03),
        r("conv2d[stride=2,padding=same]", "unsupported", api="torch.layer",
          message="padding='same' is not supported for strided convolutions"),
        _failing_record(),
        r("conv2d[stride=2,padding=same]", "known", framework="jax", api="jax.lax", device="gpu", error_ratio=12.5,
          message="fits the TF32 bound", known={"id": "tf32-defaults", "reason": "TF32", "link": "https://example.org/tf32"}),
        r("conv1d_causal", "error", framework="jax", api="flax.layer", message="adapter raised KeyError: 'kernel'"),
        r("conv1d_causal", "crashed", framework="jax", api="jax.lax", precision="strict", message="worker died"),
        r(EVIL, "fail", framework="jax", api="jax.lax", error_ratio="inf", worst_index=[0, 0, 1],
          expected=1.0, got="nan", message="got <img src=x onerror=alert(2)>, expected 1.0"),
        r(EVIL, "pass", error_ratio=0.5),
    ]
    return RunResults(records, environment={"python": "3.11.7", "frameworks": {"torch": {"version": "2.13.0"}},
                                            "note": "<b>not bold</b>"},
                      skipped=[{"framework": "tensorflow-gpu", "reason": "no GPU"}],
                      stale_known=[{"id": "old-entry", "reason": "fixed upstream"}])


def baseline() -> RunResults:
    """The same run, except the tf.nn failure passed and the crash was an error."""
    base = RunResults.from_dict(sample().to_dict())
    for r in base.results:
        if r.api == "tf.nn":
            r.status, r.detail, r.message = "pass", None, ""
        if r.status == "crashed":
            r.status = "error"
    base.environment["frameworks"]["torch"]["version"] = "2.12.0"
    return base


class Page(HTMLParser):
    """Every start tag with its attributes, the text inside elements that have an id, and all text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in ("meta", "input", "br", "link", "img", "col"):
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.text_by_id.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, i in self._open:
            if i:
                self.text_by_id[i] += data

    def find(self, tag=None, **attrs) -> list[dict]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, element_id) -> tuple[str, dict]:
        found = [(t, a) for t, a in self.tags if a.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]


def _no_constants(name):
    raise ValueError(f"JSON.parse would reject {name}")


def _data(page) -> dict:
    """The page's data (#report-data) as its script reads it: base64, then gzip, then JSON."""
    return json.loads(gzip.decompress(base64.b64decode(page.text_by_id["report-data"], validate=True)),
                      parse_constant=_no_constants)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> str:
    path = write_report(sample(), tmp_path_factory.mktemp("report") / "sub" / "report.html", baseline=baseline())
    assert path.name == "report.html" and path.is_file()
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html) -> Page:
    return Page(html)


def test_file_is_html(html):
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")


def test_self_contained(page, html):
    assert not page.find("link"), "no external stylesheet or any <link>"
    assert not [a for _, a in page.tags if "src" in a], "no element loads anything"
    assert 'src="http' not in html and "href=\"http" not in html.split("<script type=\"application/json\"")[0]
    assert "@import" not in html and "url(" not in html
    scripts = page.find("script")
    assert len(scripts) == 3 and not any("src" in s for s in scripts)  # data, packed calls, code
    assert len(page.find("style")) == 1
    assert "innerHTML" not in html


def test_malicious_case_id_stays_text(page, html):
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>not bold</b>" not in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
    # the parser sees exactly our three script elements, and the id as text of a table cell
    assert len(page.find("script")) == 3
    rows = page.find("tr", data_case=EVIL)
    assert len(rows) == 1 and rows[0]["data-status"] == "fail"
    assert EVIL in page.text_by_id["support-matrix"]
    # the data travels as base64 alone (no markup can occur in it), and in its JSON the id is the original string
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", page.text_by_id["report-data"])
    data = _data(page)
    assert EVIL in [d["case"] for d in data["discrepancies"]]


def test_summary_counts_match(page, html):
    want = Counter(r.status for r in sample().results)
    tiles = _tile_numbers(html)
    statuses = ("pass", "fail", "flaky", "known", "unsupported", "error", "crashed")
    assert tiles == {"total": 10, **{s: want.get(s, 0) for s in statuses}}
    verdict = page.find("p", **{"class": "verdict verdict-fail"})
    assert verdict and verdict[0]["data-unexpected"] == str(want["fail"] + want["flaky"] + want["error"] + want["crashed"])


def _tile_numbers(html) -> dict:
    """The number in each summary tile, by status."""
    class Tiles(HTMLParser):
        def __init__(self):
            super().__init__()
            self.out, self.cur = {}, None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "span" and a.get("class") == "count":
                self.cur = a["data-status"]

        def handle_data(self, data):
            if self.cur:
                self.out[self.cur] = int(data)
                self.cur = None

    t = Tiles()
    t.feed(html)
    return t.out


def test_structure(page):
    tag, _ = page.by_id("discrepancy-table")
    assert tag == "table"
    assert page.by_id("support-matrix")[0] == "table"
    assert page.by_id("feature-matrix")[0] == "table"
    tag, attrs = page.by_id("report-data")
    assert tag == "script" and attrs["type"] == "application/octet-stream" and attrs["data-encoding"] == "gzip, base64"
    data = _data(page)
    # the data: every record but passes and unsupported ones (grouped: test_unsupported_records_are_grouped);
    # the table's rows: those that are not known differences either (grouped: test_known_records_are_grouped)
    non_pass = [r for r in sample().results if r.status not in ("pass", "unsupported")]
    assert len(data["discrepancies"]) == len(non_pass)
    rows = [a for a in page.find("tr") if "data-index" in a]
    assert sorted(a["data-status"] for a in rows) == sorted(r.status for r in non_pass if r.status != "known")
    assert "known" in {r.status for r in non_pass}
    for a in rows:  # row N of the table is item N of the data (what #detail=N opens)
        item = data["discrepancies"][int(a["data-index"])]
        assert (item["case"], item["target"], item["status"]) == (a["data-case"], a["data-target"], a["data-status"])
    # failures first, then by ratio
    assert [d["status"] for d in data["discrepancies"]][:2] == ["fail", "fail"]
    for th in ("index", "severity", "case", "target", "dtype", "check", "ratio", "message"):
        assert page.find("th", data_sort=th), th
    for control in ("filter-text", "filter-status", "filter-framework"):
        page.by_id(control)
    assert page.by_id("detail")[0] == "aside"


def _unpacked_calls(page) -> dict:
    """The packed native calls (#report-calls) as the page's script reads them: base64, then gzip, then JSON."""
    return json.loads(gzip.decompress(base64.b64decode(page.text_by_id["report-calls"])))


def test_packed_calls_hold_every_units_call(page):
    calls = _unpacked_calls(page)
    want = {(r.case, target_label(r), r.dtype): r.call for r in sample().results if r.call}
    got = {(c, t, d): code for c, by_target in calls.items() for t, by_dtype in by_target.items()
           for d, code in by_dtype.items()}
    assert got == want and want


def test_detail_data_for_a_failing_record(page):
    data = _data(page)
    tf = [d for d in data["discrepancies"] if d["target"] == "tf.nn@cpu"]
    assert len(tf) == 1
    d = tf[0]
    calls = _unpacked_calls(page)
    assert calls[d["case"]][d["target"]][d["dtype"]].startswith("tf.nn.conv2d(")
    assert "call" not in d  # the calls travel packed, once per unit
    assert d["worst_index"] == [0, 1, 6, 7]
    assert d["detail"]["window_origin"] == [4, 5]
    # two each side of [6, 7], clipped at the last column (8)
    assert np.shape(d["detail"]["window_expected"]) == np.shape(d["detail"]["window_got"]) == (5, 4)
    assert d["detail"]["heatmap_shape"] == [9, 9]
    assert np.argmax(np.asarray(d["detail"]["heatmap"])) == 6 * 9 + 7
    assert d["baseline_status"] == "pass"
    evil = [x for x in data["discrepancies"] if x["case"] == EVIL][0]
    assert evil["error_ratio"] == "inf" and evil["ratio_text"] == "inf"  # no bare Infinity in the JSON


def test_baseline_section_lists_planted_regression(page):
    assert page.by_id("baseline")[0] == "section"
    text = page.text_by_id["baseline-regressions"]
    assert "conv2d[stride=2,padding=same]" in text and "tf.nn@cpu" in text
    counts = {a["data-count"]: a for a in page.find("strong") if "data-count" in a}
    assert set(counts) == {"regressions", "fixes", "changes", "added", "removed"}
    model = build_model(sample(), baseline())
    assert [(r.case, r.target, r.old_status, r.new_status) for r in model.baseline.regressions] == \
        [("conv2d[stride=2,padding=same]", "tf.nn@cpu", "pass", "fail")]
    assert [(r.old_status, r.new_status) for r in model.baseline.changes] == [("error", "crashed")]
    assert model.baseline.regressions[0].detail_index is not None
    assert page.find("a", href=f"#detail={model.baseline.regressions[0].detail_index}")
    assert [(e.key, e.old, e.new) for e in model.baseline.environment_changes] == \
        [("frameworks.torch.version", "2.12.0", "2.13.0")]


def test_baseline_section_names_the_runs_lost_coverage_and_environment_first():
    def rec(api, framework, status="pass"):
        return Result(case="c", framework=framework, api=api, device="cpu", dtype="float32", check="output",
                      status=status)

    env = lambda isa, tf: {"host": {"cpu": {"model": "EPYC", "isa": {"avx512f": isa}}},  # noqa: E731
                           "frameworks": {"tensorflow": {"version": tf}, "jax": {"version": "0.10.2"}}}
    base = RunResults([rec("tf.nn", "tensorflow", "known"), rec("jax.lax", "jax")], environment=env(True, "2.20.0"))
    new_env = env(False, "2.21.0")
    new_env["frameworks"]["jax"] = {"error": "ImportError: <no jaxlib>"}
    new = RunResults([rec("tf.nn", "tensorflow")], environment=new_env,
                     skipped=[{"framework": "jax", "reason": "failed to start: ImportError: <no jaxlib>"}])
    model = build_model(new, base)
    assert model.baseline.failed and [x.subject for x in model.baseline.lost] == ["jax"]
    assert [(r.old_status, r.new_status) for r in model.baseline.fixes] == [("known", "pass")]
    p = Page(render(model))
    compared = [line.strip() for line in p.text_by_id["baseline-compared"].splitlines() if line.strip()]
    assert compared == ["baselinetensorflow 2.20.0, jax 0.10.2 on EPYC [avx512f]",  # <dt><dd> on one line
                        "this runtensorflow 2.21.0, jax (failed to start) on EPYC"]
    lost = "jax ran in the baseline (1 records) but failed to start here: ImportError: <no jaxlib>"
    assert lost in p.text_by_id["baseline-lost"]
    assert [a["data-group"] for a in p.find("tr") if "data-group" in a] == ["versions"] * 3 + ["cpu"]
    assert p.by_id("baseline-verdict")[0] == "p"
    html = render(model)
    assert html.index('id="baseline-environment"') < html.index('id="baseline-fixes"')


def test_baseline_section_marks_categories_and_what_allow_lets_through():
    """Against a baseline where torch.layer's refusal and jax.lax's known difference used to pass."""
    base = RunResults.from_dict(sample().to_dict())
    for r in base.results:
        if r.status in ("unsupported", "known"):
            r.status, r.message, r.known = "pass", "", None
    failing = build_model(sample(), base)
    assert [(r.target, r.category, r.allowed) for r in failing.baseline.regressions] == [
        ("torch.layer@cpu", "newly refused", False), ("jax.lax@gpu", "newly known", False)]
    assert failing.baseline.failed and failing.baseline.failing_regressions == 2
    allowed = build_model(sample(), base, allow=["refusals", "known"])
    assert [r.allowed for r in allowed.baseline.regressions] == [True, True] and not allowed.baseline.failed
    assert allowed.baseline.summary.startswith("2 regressions (1 newly refused allowed by --allow refusals; "
                                               "1 newly known allowed by --allow known)")
    p = Page(render(allowed))
    assert "newly refused, allowed" in p.text_by_id["baseline-regressions"]
    assert not [a for _, a in p.tags if a.get("id") in ("baseline-verdict", "baseline-why")]
    p = Page(render(failing))
    assert p.by_id("baseline-verdict")[0] == "p"
    assert "1 record newly refused (pass or known in the baseline, unsupported here)" in p.text_by_id["baseline-why"]


def test_no_baseline_no_section():
    p = Page(render(build_model(sample())))
    assert not [a for _, a in p.tags if a.get("id") == "baseline"]
    assert not p.find("a", href="#baseline")


def test_internal_links_resolve(page):
    ids = {a["id"] for _, a in page.tags if "id" in a}
    n_rows = len([a for a in page.find("tr") if "data-index" in a])
    for _, a in page.tags:
        href = a.get("href")
        if href and href.startswith("#"):
            if href.startswith("#detail="):
                assert 0 <= int(href.split("=")[1]) < n_rows
            else:
                assert href[1:] in ids, href


def test_render_is_deterministic():
    a = render(build_model(sample(), baseline()))
    b = render(build_model(sample(), baseline()))
    assert a == b
    shuffled = sample()
    random.Random(1).shuffle(shuffled.results)
    assert render(build_model(shuffled, baseline())) == a


def test_all_pass_report(tmp_path):
    results = RunResults([Result(case="c", framework="torch", api="torch.functional", device="cpu", dtype="float32",
                                 check="output", status="pass")])
    p = Page(write_report(results, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert p.find("p", **{"class": "verdict verdict-pass"})
    assert not [a for a in p.find("tr") if "data-index" in a]
    assert _data(p)["discrepancies"] == []


def test_support_table_model():
    model = build_model(sample())
    by_case = model.support_tables[0]
    assert by_case.columns == sorted(by_case.columns)
    assert "jax.lax@cpu:strict" in by_case.columns  # precision shown when not 'defaults'
    rows = {r.label: r for r in by_case.rows}
    assert set(rows) == {"conv2d", "conv1d_causal", EVIL}
    conv2d = dict(zip(by_case.columns, rows["conv2d"].cells))
    assert conv2d["tf.nn@cpu"].counts.worst == "fail"
    assert conv2d["torch.layer@cpu"].counts.worst == "unsupported"
    assert conv2d["torch.functional@cpu"].counts.by_status == {"pass": 3}
    assert conv2d["jax.lax@gpu"].counts.worst == "known"
    assert conv2d["flax.layer@cpu"].empty
    assert rows["conv2d"].counts.worst == "fail"
    features = {r.label for r in model.support_tables[1].rows}
    assert {"stride=1", "stride=2", "padding=same", "padding=valid", "check=output", "dtype=float32"} <= features


def test_tags_add_feature_rows():
    model = build_model(sample(), tags={"conv1d_causal": ["causal", "golden"]})
    rows = {r.label: r for r in model.support_tables[1].rows}
    assert rows["tag=causal"].counts.by_status == {"error": 1, "crashed": 1}
    assert model.support_tables[1].rows[0].label.startswith("tag=")


def test_id_helpers():
    assert base_id("conv2d[stride=2,padding=[0,1]x[1,0]]") == "conv2d"
    assert base_id("plain") == "plain"
    assert id_features("conv2d[stride=2,padding=[0,1]x[1,0]]") == ["stride=2", "padding=[0,1]x[1,0]"]
    assert id_features("plain") == []
    assert filter_token("a b", "base") == 'base:"a b"'
    assert filter_token("x@cpu", "target") == "target:x@cpu"
    r = Result(case="c", framework="jax", api="jax.lax", device="gpu", dtype="float32", check="output",
               status="pass", precision="strict")
    assert target_label(r) == "jax.lax@gpu:strict"


def test_environment_section_reads_flags_by_section():
    env = {"seed": 0,
           "host": {"cpu": {"model": "AMD EPYC", "isa": {"avx512f": True, "amx_tile": False, "avx2": None}},
                    "blas": {"numpy_simd": ["X86_V2", "X86_V3"]}},
           "frameworks": {"tensorflow": {"version": "2.21.0", "variables": {},
                                         "onednn": {"enabled": False, "TF_ENABLE_ONEDNN_OPTS": None}}}}
    record = Result(case="c", framework="tensorflow", api="tf.nn", device="cpu", dtype="float32", check="output",
                    status="pass")
    model = build_model(RunResults([record], environment=env))
    assert [(i.group, i.key, i.value) for i in model.environment] == [
        ("run", "seed", "0"),
        ("host", "host.blas.numpy_simd", "X86_V2, X86_V3"),
        ("host", "host.cpu.isa.amx_tile", "no"),
        ("host", "host.cpu.isa.avx2", "unknown"),
        ("host", "host.cpu.isa.avx512f", "yes"),
        ("host", "host.cpu.model", "AMD EPYC"),
        ("frameworks.tensorflow", "frameworks.tensorflow.onednn.TF_ENABLE_ONEDNN_OPTS", "not set"),
        ("frameworks.tensorflow", "frameworks.tensorflow.onednn.enabled", "no"),
        ("frameworks.tensorflow", "frameworks.tensorflow.variables", "none"),
        ("frameworks.tensorflow", "frameworks.tensorflow.version", "2.21.0"),
    ]
    html = render(model)
    start = html.index('<section id="environment"')
    section = html[start:html.index("</section>", start)]
    headers = re.findall(r'<tr class="env-group"><th scope="colgroup" colspan="2">([^<]*)</th></tr>', section)
    assert headers == ["run", "host", "frameworks.tensorflow"]
    assert "<th scope=\"row\"><code>host.cpu.isa.avx512f</code></th><td>yes</td>" in section


def _unsupported(case, api="torch.layer", reason="padding='same' is not supported for strided convolutions", **kw):
    kw.setdefault("dtype", "float32")
    return Result(case=case, framework=kw.pop("framework", "torch"), api=api, device="cpu", check=kw.pop("check", "output"),
                  status="unsupported", message=reason, **kw)


def test_unsupported_records_are_grouped():
    records = [_unsupported("conv2d[stride=2]"), _unsupported("conv2d[stride=3]", dtype="float64"),
               _unsupported("conv2d[stride=3]", api="torch.functional"),  # another target: another group
               _failing_record()]
    model = build_model(RunResults(records))
    groups = [(g.target, g.reason, g.count, g.cases) for g in model.unsupported]
    reason = records[0].message
    assert groups == [("torch.functional@cpu", reason, 1, ["conv2d[stride=3]"]),
                      ("torch.layer@cpu", reason, 2, ["conv2d[stride=2]", "conv2d[stride=3]"])]
    assert [(d.status, d.target) for d in model.discrepancies] == [("fail", "tf.nn@cpu")]  # the fail stays a row
    p = Page(render(model))
    assert [a["data-status"] for a in p.find("tr") if "data-index" in a] == ["fail"]
    rows = p.find("tr", **{"class": "group"})
    assert [(a["data-target"], a["data-status"], a["data-dtype"]) for a in rows] == [
        ("torch.functional@cpu", "unsupported", "float32"), ("torch.layer@cpu", "unsupported", "float32 float64")]
    table = p.text_by_id["unsupported-table"]
    assert table.count(reason) == 2  # the reason once per group, not once per record
    layer = [line.strip() for line in table[table.index("torch.layer@cpu"):].splitlines() if line.strip()]
    assert layer == ["torch.layer@cpu", "2", reason, "2 cases"]  # target, count, reason, the cases' count
    data = _data(p)
    assert data["discrepancies"][0]["status"] == "fail"
    # the page lists a group's cases from the case view: its records of the group's target and reason
    view = data["case_view"]
    (ul,) = [a for a in p.find("ul", **{"class": "group-cases"}) if a["data-reason"] != "0"][-1:]
    assert view["messages"][int(ul["data-reason"])] == reason
    listed = sorted(c for c, recs in view["cases"].items()
                    if any(view["targets"][x[1]] == "torch.layer@cpu" and view["statuses"][x[2]] == "unsupported"
                           and view["messages"][x[3]] == reason for x in recs if len(x) > 3))
    assert listed == ["conv2d[stride=2]", "conv2d[stride=3]"]


def _known(case: str, api: str = "openvino.onnx", entry: str = "bf16-by-default", ratio: float = 3.0,
           dtype: str = "float32", check: str = "output") -> Result:
    return Result(case=case, framework=api.split(".")[0], api=api, device="cpu", dtype=dtype, check=check,
                  status="known", error_ratio=ratio, message=f"known difference {entry}: error {ratio}x its bound",
                  known={"id": entry, "reason": f"why {entry}", "link": "https://example.org/" + entry})


def test_known_records_are_grouped():
    """Known records: one group row per (target, entry), worst ratio and counts; each record keeps its
    detail in the data, where the page lists the group's records from (target and entry id)."""
    records = [_known("conv2d[stride=2]"), _known("conv2d[stride=2]", check="grad_input", ratio=7.5),
               _known("conv2d[stride=3]", dtype="float16"),
               _known("conv2d[stride=3]", entry="float64-as-float32", dtype="float64"),  # another entry
               _known("conv2d[stride=3]", api="openvino.torch"),  # another target
               _failing_record()]
    model = build_model(RunResults(records))
    assert [(g.target, g.entry, g.count, g.cases, g.dtypes, g.checks, g.worst_ratio) for g in model.known] == [
        ("openvino.onnx@cpu", "bf16-by-default", 3, 2, ["float16", "float32"], ["output", "grad_input"], "7.5"),
        ("openvino.onnx@cpu", "float64-as-float32", 1, 1, ["float64"], ["output"], "3"),
        ("openvino.torch@cpu", "bf16-by-default", 1, 1, ["float32"], ["output"], "3")]
    assert [d.status for d in model.failing_rows] == ["fail"]
    p = Page(render(model))
    assert [a["data-status"] for a in p.find("tr") if "data-index" in a] == ["fail"]  # no row per known record
    groups = [a for a in p.find("tr", **{"class": "group"}) if a["data-status"] == "known"]
    assert [(a["data-target"], a["data-entry"], a["data-dtype"], a["data-check"]) for a in groups] == [
        ("openvino.onnx@cpu", "bf16-by-default", "float16 float32", "output grad_input"),
        ("openvino.onnx@cpu", "float64-as-float32", "float64", "output"),
        ("openvino.torch@cpu", "bf16-by-default", "float32", "output")]
    table = p.text_by_id["known-table"]
    assert table.count("why bf16-by-default") == 2  # the entry's reason once per group, not per record
    first = [line.strip() for line in table[table.index("openvino.onnx@cpu"):].splitlines() if line.strip()][:4]
    assert first == ["openvino.onnx@cpu", "3", "7.5", "bf16-by-default why bf16-by-default"]
    assert "3 records, 2 cases" in table and "1 record, 1 case" in table
    # every known record keeps its detail, found by the group's target and entry id
    data = _data(p)
    grouped = [(d["target"], data["known"][d["known"]]["id"], d["case"], d["check"])
               for d in data["discrepancies"] if d["status"] == "known"]
    assert sorted(grouped) == sorted((f"{r.api}@cpu", r.known["id"], r.case, r.check) for r in records
                                     if r.status == "known")


def test_case_view_puts_one_case_on_every_target_side_by_side():
    case = "conv2d[stride=2,padding=same]"
    want = {(f"{r.check} {r.dtype}", target_label(r)): (r.status, r.message or "")
            for r in sample().results if r.case == case}
    assert len({t for _, t in want}) == 4 and len({s for s, _ in want.values()}) == 4  # a difference to show
    p = Page(render(build_model(sample(), baseline())))
    view = _data(p)["case_view"]
    full = [x + [0, ""][len(x) - 3:] for x in view["cases"][case]]  # left out: message 0 (""), no ratio
    assert view["messages"][0] == ""
    got = {(view["rows"][ri], view["targets"][ti]): (view["statuses"][si], view["messages"][mi])
           for ri, ti, si, mi, _ in full}
    assert got == want
    assert set(view["cases"]) == {r.case for r in sample().results}
    ratios = {(view["rows"][ri], view["targets"][ti]): ratio for ri, ti, _, _, ratio in full}
    expected = {(f"{r.check} {r.dtype}", target_label(r)): "" if r.status == "pass" else format_ratio(r.error_ratio)
                for r in sample().results if r.case == case}
    assert ratios == expected and any(expected.values())  # a record that did not pass keeps its ratio
    assert p.by_id("case-view-body")[0] == "div" and p.by_id("case-pick")[0] == "input"


# What the grouped report may add, over the same records all passing, for the unsupported ones: one row
# per group (markup, target and counts) with its reason, each of its case ids once, and in each support
# matrix cell the link that filters for the cell's records (markup and the filter text).
GROUP_ROW_BYTES = 600
CASE_ITEM_BYTES = len("<li></li>")
CELL_LINK_BYTES = 160


def test_many_unsupported_records_make_a_small_report():
    targets = ["torch.layer", "torch.functional", "tf.nn", "jax.lax"]
    reasons = [f"reason {i}: this layout is not supported by the API for the given kernel" for i in range(10)]
    checks = ["output", "grad_input", "grad_weight", "grad_bias", "output_shape"]
    cases = [f"conv2d[n={i // 10},k={i % 10}]" for i in range(1000)]
    records = [_unsupported(c, api=api, reason=reasons[i % 10], check=check, framework=api.split(".")[0])
               for i, c in enumerate(cases) for api in targets for check in checks]
    assert len(records) == 20_000
    model = build_model(RunResults(records))
    unsupported = len(render(model))
    cells = [c for t in model.support_tables for row in t.rows for c in row.cells if not c.empty]
    for r in records:
        r.status, r.message = "pass", ""
    passing = len(render(build_model(RunResults(records))))
    groups = {(r.api, i % 10) for i in range(len(cases)) for r in records[i * 20:(i + 1) * 20]}
    assert len(groups) == 40
    group_cases = len(targets) * sum(len(c) + CASE_ITEM_BYTES for c in cases)  # each case in one group per target
    links = sum(CELL_LINK_BYTES + len(c.filter) for c in cells)
    bound = passing + len(groups) * GROUP_ROW_BYTES + sum(len(x) for x in reasons) * 5 + group_cases + links
    assert unsupported <= bound, (unsupported, passing, bound)


def test_discrepancies_carry_their_repro_command():
    results = sample()
    results.environment["seed"] = 7
    results.cases = {"conv1d_causal": {"origin": "/home/me/my_cases.yaml:12"},
                     "conv2d[stride=2,padding=same]": {"origin": "cases/conv2d.yaml:40"}}
    rows = {(d.case, d.target): d.repro for d in build_model(results).discrepancies}
    assert rows[("conv2d[stride=2,padding=same]", "jax.lax@gpu")] == (
        "conformance repro 'conv2d[stride=2,padding=same]' --target jax.lax@gpu --dtype float32 --seed 7")
    # a case from another file names it; the strict profile is asked for
    strict = [r for (case, target), r in rows.items() if case == "conv1d_causal" and "jax.lax" in target]
    assert strict == ["conformance repro conv1d_causal --target jax.lax@cpu --dtype float32 --precision strict "
                      "--seed 7 --cases /home/me/my_cases.yaml"]
