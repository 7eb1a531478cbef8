"""mlmath: the numeric companion of *Decoding the Matrix*.

A small numpy package whose every function is derived in a chapter of the book and
checked there against a symbolic derivation. Submodules are imported on demand::

    from mlmath.linalg import affine
    from mlmath.models import Sequential

``import mlmath`` itself loads numpy only.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
