# Type stub of the compiled kernel traces/states/_bigru.c (optional C extension).
from typing_extensions import Buffer

BUILD: str
ROWS: int
HIDDEN_SIZE: int
MAX_STATES: int

def logits(
    x: Buffer,
    w: Buffer,
    out: Buffer,
    t_len: int,
    n_features: int,
    n_states: int,
    row0: int,
    row1: int,
    /,
) -> None: ...
