# syntax=docker/dockerfile:1
# Build a wheel in one stage; install only it and its runtime dependencies in the final image.
# Both stages are pinned to Debian 12 (bookworm): the hook built here links against its glibc
# (2.36), the version docs/node-setup.md promises nodes; a floating python:3.11-slim moved to
# Debian 13 (glibc 2.41), which Ubuntu 22.04 (2.35) or RHEL 9 (2.34) nodes cannot run.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubenexus ./kubenexus
RUN pip wheel --no-cache-dir --wheel-dir /wheels .
# The cpuset OCI hook as a self-contained program for nodes without Python (one directory:
# docs/node-setup.md). It links against this stage's glibc (Debian 12: 2.36): nodes need that
# or newer, else build it on an older base (a hook that cannot start fails every container
# start under containerd).
# PyInstaller needs objdump (binutils) on Linux.
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir "pyinstaller>=6.10" && python -m kubenexus.node.build /hook
# Smoke test: the program starts without this stage's Python (a container without cpu-set: 0).
RUN echo '{"annotations": {}}' | env -i /hook/kubenexus-cpuset-hook/kubenexus-cpuset-hook

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin kubenexus
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY examples /opt/kubenexus/examples
# Copied onto nodes by the installer DaemonSet (manifests/node/cpuset-hook-installer.yaml).
COPY --from=build /hook/kubenexus-cpuset-hook /opt/kubenexus/cpuset-hook
USER 65532:65532
ENTRYPOINT ["kubenexus"]
# In a pod: in-cluster credentials. `docker run IMAGE simulate /opt/kubenexus/examples/cluster.yaml`
# runs the simulator on the bundled example instead.
CMD ["run"]
