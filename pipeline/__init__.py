"""The DeepDream Beam job: options, graph assembly and the `python -m pipeline` entry point."""
