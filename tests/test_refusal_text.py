"""A framework's refusal as a record says it (adapters/base.py `Adapter.native`): its own words, without
what differs between processes and machines (an object's address, the paths of traced frames)."""
from __future__ import annotations

import pytest

from conformance.adapters.base import Adapter, Unsupported
from conformance.adapters.refusal import Refusal


class Refusing(Adapter):
    """Refuses the three messages below, by the exception's class (or a base class) and its words."""

    refusals = (Refusal("TypeError", r"Expected string for argument 'padding'", "test"),
                Refusal("RuntimeError", r"call_function", "test"),
                Refusal("Exception", r"how this starts", "test"))

TRACED = ('in user code:\n\n    File "/home/me/conformance/adapters/tensorflow_adapter.py", line 272, in forward  *\n'
          '        y = op(x, w, **kwargs)\n    File "/venv/keras/src/ops.py", line 9, in conv  **\n        return f(x)\n\n'
          "    TypeError: Expected string for argument 'padding' not [[0, 0], [1, 1], [0, 0]].\n")


def refusal(exc: Exception) -> str:
    with pytest.raises(Unsupported) as caught:
        with Refusing().native():
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


def failure(exc: Exception, adapter: Adapter) -> BaseException:
    with pytest.raises(BaseException) as caught:
        with adapter.native():
            raise exc
    return caught.value


def test_an_exception_no_refusal_declares_passes_unchanged():
    """Another message of a declared class, or another class with a declared message: an error."""
    internal = RuntimeError("INTERNAL ASSERT FAILED at aten/src/ATen/native/Convolution.cpp:1234")
    assert failure(internal, Refusing()) is internal
    wrong_class = ValueError("Expected string for argument 'padding' not [[0, 0]]")
    assert failure(wrong_class, Refusing()) is wrong_class


def test_an_adapter_that_declares_no_refusal_refuses_nothing():
    exc = TypeError("Expected string for argument 'padding' not [[0, 0]]")
    assert failure(exc, Adapter()) is exc


def test_a_refusal_matches_a_base_class_by_name():
    class InvalidArgumentError(RuntimeError):  # as TensorFlow's OpError subclasses are matched by a base
        pass

    adapter = Refusing()
    adapter.refusals = (Refusal("RuntimeError", "dilation", "test"),)
    assert isinstance(failure(InvalidArgumentError("no dilation here"), adapter), Unsupported)
    assert isinstance(failure(InvalidArgumentError("other"), adapter), InvalidArgumentError)


def test_an_error_raised_while_handling_another_names_both():
    """A converter that catches the layer's RuntimeError and then fails on its own: the record names
    the failure that matters too (a patched Keras under the TFLite converter did exactly this)."""
    from conformance.check.evaluate import _exception_text

    try:
        try:
            raise RuntimeError("the layer's call failed")
        except RuntimeError:
            follow_up = None
            follow_up()  # the converter's own follow-up failure
    except TypeError as exc:
        text = _exception_text(exc)
    assert text == ("TypeError: 'NoneType' object is not callable "
                    "(raised while handling RuntimeError: the layer's call failed)")
    try:
        raise ValueError("wrapped") from KeyError("the cause the code names itself")
    except ValueError as exc:
        assert _exception_text(exc) == "ValueError: wrapped"
