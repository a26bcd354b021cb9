"""`mae shapes` (not written yet)."""
