"""conv-conformance: does convolution mean the same thing in PyTorch, TensorFlow/Keras and JAX?

Importing this package imports no deep-learning framework; adapters import theirs when used.
"""
from conformance.errors import CaseError, ConformanceError, UsageError
from conformance.spec.case import Case
from conformance.spec.loader import load_cases

__version__ = "0.1.0"
__all__ = ["Case", "CaseError", "ConformanceError", "UsageError", "load_cases", "__version__"]
