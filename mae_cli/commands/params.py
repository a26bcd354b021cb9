"""`mae params` (not written yet)."""
