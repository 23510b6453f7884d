"""The fake framework's declarations (tests/fakefw.py), as a plugin declares its targets: in a module
that imports nothing heavy, since every process of a run reads it, the parent included."""
from conformance.spec.frameworks import Declaration

ADAPTER = "fakefw:FakeAdapter"
DECLARATIONS = [Declaration(api, "fakefw", ADAPTER, ("fakefw",)) for api in ("fakefw.functional", "fakefw.layer")]
