"""`--conformance-shard I/N`: deselect the conformance items of the other shards."""
from __future__ import annotations

from conformance.pytest_plugin.items import ConformanceItem
from conformance.pytest_plugin.options import OPT_SHARD
from conformance.run.shard import assign, parse_shard


def keep_shard(config, items):
    """Deselect the conformance items of other shards: the cases are split as `conformance run --shard`
    splits them (conformance.run.shard), weighted by the dtypes each case runs here."""
    index, count = parse_shard(config.getoption(OPT_SHARD), OPT_SHARD)
    dtypes: dict = {}
    for item in items:
        if isinstance(item, ConformanceItem):
            dtypes.setdefault(item.case.id, set()).add(item.dtype)
    owner = assign([(cid, len(d)) for cid, d in dtypes.items()], count)
    keep, drop = [], []
    for item in items:
        (drop if isinstance(item, ConformanceItem) and owner[item.case.id] != index else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
