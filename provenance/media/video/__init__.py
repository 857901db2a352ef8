"""Videos: the container (container.py), sampled frames (sampling.py), tag values (tags.py)."""
