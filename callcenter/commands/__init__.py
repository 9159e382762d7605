"""Command areas of the ``callcenter`` CLI (composition root: may import adapters)."""
