"""`mae flops` (not written yet)."""
