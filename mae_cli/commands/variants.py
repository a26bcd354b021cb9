"""`mae variants` (not written yet)."""
