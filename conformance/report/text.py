"""Terminal text shared by the command line and the pytest plugin."""
from __future__ import annotations


def describe_skip(skip: dict) -> str:
    """One line for a skip record: `torch on gpu: no gpu visible to torch`."""
    what = skip.get("target") or skip.get("framework")
    extra = f" on {skip['device']}" if "device" in skip else ""
    return f"{what}{extra}: {skip['reason']}"
