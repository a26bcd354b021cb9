"""`mae forward` (not written yet)."""
