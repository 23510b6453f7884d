"""The --conformance-* options and the markers: registered with pytest from the declarations in
conformance/options.py, and checked once before collection."""
from __future__ import annotations

from conformance import adapters, options
from conformance.errors import UsageError
from conformance.results.known import load_known
from conformance.run.selection import Selection
from conformance.run.shard import parse_shard
from conformance.spec.library import known_path
from conformance.spec import frameworks
from conformance.spec.loader import parse_bytes

OPT_JSON = options.JSON.pytest_flag
OPT_HTML = options.HTML.pytest_flag
OPT_KNOWN = options.KNOWN.pytest_flag
OPT_MAX_MEMORY = options.MAX_CASE_MEMORY.pytest_flag
OPT_JOBS = options.JOBS.pytest_flag
OPT_SHARD = options.SHARD.pytest_flag
OPT_TARGETS = options.TARGETS.pytest_flag

MARKERS = {
    "torch": "conformance items run on PyTorch",
    "tensorflow": "conformance items run on TensorFlow/Keras",
    "jax": "conformance items run on JAX/Flax",
    "conv": "conformance items of a convolution case",
    "conv_transpose": "conformance items of a transposed-convolution case",
    "gpu": "conformance items run on a GPU",
    "explore": "property-based exploration on the real frameworks (slow): run only with -m explore",
}


def add_options(parser):
    group = parser.getgroup("conformance", "convolution conformance suite")
    options.add_to_pytest(group, options.PYTEST)


def register_markers(config) -> None:
    for name in frameworks.kinds():  # plugins' kinds too
        MARKERS.setdefault(name, f"conformance items run on {name}")
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def validate_options(config) -> None:
    """Check every --conformance-* option once, before collection: a bad one is one usage line (pytest
    exits 4), not a collection error in every case file. Raises UsageError (CaseError for the
    content of a --conformance-known file)."""
    opt = config.getoption
    for option in options.SELECTION:
        try:
            if option.pytest and opt(option.pytest_flag) is not None:
                Selection(**{option.dest: opt(option.pytest_flag)}).validate()
        except UsageError as exc:
            raise UsageError(with_option_name(option.pytest_flag, str(exc))) from None
    if opt(OPT_SHARD) is not None:
        parse_shard(opt(OPT_SHARD), OPT_SHARD)
    try:
        parse_bytes(opt(OPT_MAX_MEMORY))
    except UsageError as exc:
        raise UsageError(with_option_name(OPT_MAX_MEMORY, str(exc))) from None
    known = known_path(opt(OPT_KNOWN), OPT_KNOWN)
    if known is not None:
        load_known(known)  # a bad entry is named now (file:line), not in every case file's collection


def selection_of(config) -> Selection:
    """The Selection the --conformance-* options make; the workers' output goes to this terminal
    only under `pytest -s`."""
    chosen = {o.dest: config.getoption(o.pytest_flag) for o in options.SELECTION if o.pytest}
    return Selection(**chosen, verbose=config.getoption("capture") == "no")


def load_known_for(config):
    """The entries of --conformance-known (by default the library's known differences)."""
    path = known_path(config.getoption(OPT_KNOWN), OPT_KNOWN)
    return load_known(path) if path is not None else []


def with_option_name(option: str, message: str) -> str:
    """A validation message that names the pytest option: the CLI's '--timeout must be ...' becomes
    '--conformance-timeout must be ...', and one naming no option is prefixed with it."""
    cli_name = "--" + option.removeprefix("--conformance-")
    if message.startswith(cli_name + " "):
        return option + message[len(cli_name):]
    return f"{option}: {message}"
