# Company Brain: the service (REST API, cockpit, SQL door) of a brain project mounted at /project.
#   docker build -t companybrain .
#   docker run -p 8765:8765 -p 5433:5433 -v "$PWD/demo/acme:/project" companybrain
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# libgomp1: LightGBM's OpenMP runtime (the AI factory); nothing else beyond the Python wheels
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 brain
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER brain
WORKDIR /project
VOLUME ["/project"]
ENV BRAIN_HOST=0.0.0.0 BRAIN_PORT=8765 BRAIN_SQL_PORT=5433
EXPOSE 8765 5433
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"
ENTRYPOINT ["brain", "-p", "/project"]
CMD ["serve"]
