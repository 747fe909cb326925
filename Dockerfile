# The graphsvc API image (docker-compose.yml runs it against Neo4j).
FROM node:20-slim AS console
WORKDIR /console
COPY api/console/package.json api/console/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
# the police package's referral PDF embeds this Chinese font (queries/referral_pdf.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graphsvc graphsvc
COPY ingest ingest
COPY queries queries
COPY api api
COPY services services
COPY cli cli
COPY --from=console /console/node_modules api/console/node_modules
# -e: the console's Cytoscape.js sits beside the sources, where the app serves it from
RUN pip install --no-cache-dir -e . && useradd --system --home /data graphsvc && mkdir -p /data && chown graphsvc /data
USER graphsvc
ENV GRAPHSVC_HOME=/data
EXPOSE 8000
CMD ["graphsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
