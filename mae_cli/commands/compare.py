"""`mae compare` (not written yet)."""
