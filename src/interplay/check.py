"""``python -m interplay.check [params.yaml]``: check the params of every stage the DAG declares.

Reads nothing but the params file (and ``dvc.yaml`` for the findings' declared inputs); prints one
line per stage whose params are wrong, naming the key, and exits 2, or says that all check out.
"""

from interplay.jobs import main

if __name__ == "__main__":
    raise SystemExit(main())
