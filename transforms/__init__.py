"""Beam steps of the DeepDream pipeline, and (in transforms.dream) the dream math they call."""
