"""`conformance port`: a layer as the user writes it (a native constructor call, parse.py and
conventions.py), the call on each target that computes it exactly (families.py: every CPU target by
family; answers.py, code.py), and each call run now in its target's worker and checked against the
oracle (run.py); the command: command.py. The constructions run are recipes (conformance/recipes/),
kept apart from the adapters' native calls."""
