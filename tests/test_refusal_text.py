"""A framework's refusal as a record says it (adapters/base.py `Adapter.native`): its own words, without
what differs between processes and machines (an object's address, the paths of traced frames)."""
from __future__ import annotations

import pytest

from conformance.adapters.base import Adapter, Unsupported

TRACED = ('in user code:\n\n    File "/home/me/conformance/adapters/tensorflow_adapter.py", line 272, in forward  *\n'
          '        y = op(x, w, **kwargs)\n    File "/venv/keras/src/ops.py", line 9, in conv  **\n        return f(x)\n\n'
          "    TypeError: Expected string for argument 'padding' not [[0, 0], [1, 1], [0, 0]].\n")


def refusal(exc: Exception) -> str:
    with pytest.raises(Unsupported) as caught:
        with Adapter().native():
            raise exc
    return str(caught.value)


def test_the_frames_of_traced_code_are_left_out():
    assert refusal(TypeError(TRACED)) == "TypeError: Expected string for argument 'padding' not [[0, 0], [1, 1], [0, 0]]."


def test_an_objects_address_is_left_out():
    text = "call_function <built-in method conv1d of type object at 0x7f8d2e4cea40>(*(FakeTensor(...),))"
    assert refusal(RuntimeError(text)) == "RuntimeError: call_function <built-in method conv1d of type object>(*(FakeTensor(...),))"


def test_other_text_is_kept():
    assert refusal(ValueError("in user code is not how this starts: File 'x'")) == \
        "ValueError: in user code is not how this starts: File 'x'"
