"""Precision profiles on the CPU: a kind whose worker says its profiles differ there (OpenVINO's bf16
default) runs each on the CPU; the others run it once. Pure selection logic: no framework needed."""
from __future__ import annotations

from conformance.run.selection import Selection, targets_for


def test_a_kind_whose_cpu_profiles_differ_runs_both_on_the_cpu(monkeypatch):
    """The worker's hello says which profiles differ on its CPU; the packages count as installed."""
    from conformance.run import selection

    monkeypatch.setattr(selection.adapters, "missing_packages", lambda *args: [])
    info = {"devices": ["cpu"], "cpu_profiles": ["strict", "defaults"]}
    triples, _ = targets_for("openvino", info, Selection())
    assert sorted(triples) == sorted((api, "cpu", p) for api in ("openvino.onnx", "openvino.torch")
                                     for p in ("strict", "defaults"))
    triples, _ = targets_for("openvino", info, Selection(precision=["strict"]))
    assert {p for _, _, p in triples} == {"strict"}
    triples, _ = targets_for("openvino", {"devices": ["cpu"], "cpu_profiles": ["defaults"]}, Selection())
    assert {p for _, _, p in triples} == {"defaults"}
