"""interplay: reruns the pre-training / mid-training / RL experiments of Zhang, Neubig & Yue (2025)."""

import os

__version__ = "0.1.0"

# pyarrow's C++ memory pool is chosen from this variable when the library loads, so it is set here,
# before any module of the package imports pyarrow (a user's own setting stands). jemalloc hands
# freed pages back where the default mimalloc keeps them: generating 2M tokens peaked at 204 MB
# against 274 MB (docs/log.md). Allocation never changes what is written.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
# and it hands them back at once: by default jemalloc keeps freed pages resident until a timed decay,
# so a process that frees and allocates row groups in quick succession (generation's merge) peaked at
# whatever its timing left behind: 444-545 MB over six 10M-token generations, 401-402 MB over two
# with no decay (docs/log.md). Read by jemalloc when it starts, the first time pyarrow allocates.
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
