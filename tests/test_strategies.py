"""The strategies themselves: every drawn case is valid, and every feature of the vocabulary is reachable.

A strategy that silently never draws, say, a grouped transposed conv would make every property test
and every exploration blind to it; `find` proves each feature is drawn.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, find, given, settings

from conformance import Case
from conformance.spec.dtypes import DTYPE_NAMES
from conformance.spec.features import FEATURES, case_features
from conformance.search.strategies import MAX_ELEMENTS, MAX_SPATIAL, case_dicts, case_id

FIND = settings(max_examples=3000, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=case_dicts(dtypes=DTYPE_NAMES))
def test_every_drawn_case_validates_within_the_size_cap(d):
    case = Case.from_dict(d)
    assert max(math.prod(case.input_shape), math.prod(case.output_shape)) <= MAX_ELEMENTS
    assert max(case.in_spatial) <= MAX_SPATIAL
    assert len(case.dtypes) == 1 and case.dtypes[0] in DTYPE_NAMES
    assert d["id"] == case_id(d)  # the id is the content's: the same case always gets the same inputs


# The strategies draw cases with a non-empty output, which the naive references of the property tests and
# every exploration's comparisons need; the empty ones (docs/semantics.md#empty-tensors) are checked by the
# hand-picked cases/edges.yaml.
EMPTY_OUTPUT_FEATURES = ("empty_batch", "no_valid_output")


@pytest.mark.parametrize("feature", [f for f in FEATURES if f not in EMPTY_OUTPUT_FEATURES])
def test_every_case_feature_is_reachable(feature):
    found = find(case_dicts(), lambda d: feature in case_features(Case.from_dict(d)), settings=FIND)
    assert feature in case_features(Case.from_dict(found))


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_every_dtype_is_reachable(dtype):
    assert find(case_dicts(dtypes=DTYPE_NAMES), lambda d: d["dtypes"] == [dtype], settings=FIND)


@pytest.mark.parametrize("form", ["valid", "same", "same_lower", "causal", "int", "per_dim", "pairs"])
def test_every_padding_form_is_reachable(form):
    def is_form(d):
        p = d["padding"]
        if isinstance(p, str):
            return p == form
        if isinstance(p, int):
            return form == "int"
        return form == ("pairs" if isinstance(p[0], list) else "per_dim")
    assert find(case_dicts(), is_form, settings=FIND)


@pytest.mark.parametrize("what", ["grouped transposed", "3-D transposed with output_padding",
                                  "dilated transposed", "depthwise 3-D"])
def test_combinations_are_reachable(what):
    def pred(d):
        c = Case.from_dict(d)
        return {"grouped transposed": c.op == "conv_transpose" and c.groups > 1,
                "3-D transposed with output_padding": c.op == "conv_transpose" and c.ndim == 3 and any(c.output_padding),
                "dilated transposed": c.op == "conv_transpose" and max(c.dilation) > 1,
                "depthwise 3-D": c.is_depthwise and c.ndim == 3}[what]
    assert pred(find(case_dicts(), pred, settings=FIND))


@given(d=case_dicts(dtypes=DTYPE_NAMES))
def test_drawn_cases_have_a_non_empty_output(d):
    assert not set(EMPTY_OUTPUT_FEATURES) & set(case_features(Case.from_dict(d)))
