"""Dataset digests: 16 hex digits of a sha256, over a source's file bytes or over its decoded arrays.

IDX and CSV sources hash their uncompressed file bytes (gzipped and raw copies agree); sources whose
files carry incidental bytes (zip timestamps in npz, pickles, encoded images) hash the arrays they
decode to, so the same numbers always give the same digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DIGEST_LENGTH = 16


def bytes_digest(blobs: Iterable[bytes]) -> str:
    """Digest of byte strings hashed in order."""
    sha = hashlib.sha256()
    for blob in blobs:
        sha.update(blob)
    return sha.hexdigest()[:DIGEST_LENGTH]


def arrays_digest(arrays: Iterable[tuple[str, np.ndarray]]) -> str:
    """Digest of named arrays in order: each one's role, dtype, shape and C-order bytes."""
    sha = hashlib.sha256()
    for role, array in arrays:
        a = np.ascontiguousarray(array)
        sha.update(f"{role}:{a.dtype.str}:{','.join(map(str, a.shape))};".encode())
        sha.update(a.tobytes())
    return sha.hexdigest()[:DIGEST_LENGTH]
