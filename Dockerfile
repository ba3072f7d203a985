# syntax=docker/dockerfile:1
# Build a wheel in one stage; install only it and its runtime dependencies in the final image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubenexus ./kubenexus
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin kubenexus
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY examples /opt/kubenexus/examples
USER 65532:65532
ENTRYPOINT ["kubenexus"]
# In a pod: in-cluster credentials. `docker run IMAGE simulate /opt/kubenexus/examples/cluster.yaml`
# runs the simulator on the bundled example instead.
CMD ["run"]
