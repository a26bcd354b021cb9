"""`mae bench` (not written yet)."""
