"""`mae mask-demo` (not written yet)."""
