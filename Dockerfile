# The graphsvc API image (docker-compose.yml runs it against Neo4j).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graphsvc graphsvc
COPY ingest ingest
COPY queries queries
COPY api api
RUN pip install --no-cache-dir . && useradd --system --home /data graphsvc && mkdir -p /data && chown graphsvc /data
USER graphsvc
ENV GRAPHSVC_HOME=/data
EXPOSE 8000
CMD ["graphsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
