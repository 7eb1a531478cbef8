"""Performance comparisons of mlmath with PyTorch on CPU (``make bench``; never run in CI)."""
