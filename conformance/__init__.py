"""conv-conformance: does convolution mean the same thing in PyTorch, TensorFlow/Keras and JAX?

Importing this package imports no deep-learning framework; adapters import theirs when used.
"""
from conformance.spec.case import Case
from conformance.errors import CaseError, ConformanceError, UsageError

__version__ = "0.1.0"
__all__ = ["Case", "CaseError", "ConformanceError", "UsageError", "load_cases", "__version__"]


def load_cases(*paths, **kwargs):
    """Load and validate case files or folders (see `conformance.spec.loader.load_cases`)."""
    from conformance.spec.loader import load_cases as _load
    return _load(*paths, **kwargs)
