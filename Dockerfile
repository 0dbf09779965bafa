# scylla-py node image. Usage mirrors ScyllaDB's image:
#   docker run --name node1 -d scylla-py
#   docker run --name node2 -d scylla-py --seeds "$(docker inspect -f '{{ .NetworkSettings.IPAddress }}' node1)"
# Flags: see packaging/docker-entrypoint.py and docs/configuration.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/scylla-py
# Project metadata and sources only; tests, docs and benchmarks stay out of the image.
COPY pyproject.toml README.md ./
COPY scylla_py ./scylla_py
COPY cql ./cql
COPY storage ./storage
COPY raft ./raft
COPY topology ./topology
RUN pip install --no-cache-dir .

COPY conf/scylla.yaml /etc/scylla/scylla.yaml
COPY packaging/docker-entrypoint.py /docker-entrypoint.py

# Run unprivileged; /var/lib/scylla holds data/, commitlog/ and hints/ (mount a volume there).
RUN useradd --system --home-dir /var/lib/scylla --shell /usr/sbin/nologin scylla \
    && mkdir -p /var/lib/scylla \
    && chown scylla:scylla /var/lib/scylla
USER scylla
VOLUME ["/var/lib/scylla"]

# CQL, shard-aware CQL, internode, REST API, Prometheus.
EXPOSE 9042 19042 7000 10000 9180

# Healthy once the node reports NORMAL on its REST API (bound to 127.0.0.1 inside the container
# unless --api-address says otherwise).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import json,sys,urllib.request as u; sys.exit(json.load(u.urlopen('http://127.0.0.1:10000/storage_service/operation_mode', timeout=4)) != 'NORMAL')"

ENTRYPOINT ["python", "/docker-entrypoint.py"]
