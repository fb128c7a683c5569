FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/scheduler

COPY pyproject.toml README.md ./
COPY app ./app
COPY actors ./actors
COPY api ./api
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system --uid 10001 scheduler

USER scheduler
EXPOSE 8000
ENTRYPOINT ["scheduler"]
CMD ["web"]
