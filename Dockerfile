# Sigap 112 production image: the app served by uvicorn, model trained at build time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN useradd --create-home --uid 10001 sigap

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY nlu ./nlu
COPY actions ./actions
COPY channels ./channels
COPY config.yml domain.yml routing.yml regions.yml priority.yml ./
COPY schemas ./schemas
COPY data ./data
COPY guidance ./guidance
# Editable, so the project files (domain, data, guidance, models) are found in /app.
RUN pip install --no-cache-dir -e .
# The model is part of the image: a container never trains at start-up.
RUN sigap train && chown -R sigap /app

USER sigap
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sigap", "serve", "--host", "0.0.0.0", "--port", "8000"]
