FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 INTELSHARE_VAR_DIR=/var/lib/intelshare
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY config config
COPY intelshare intelshare
COPY sync sync
# static/ is made here so compose's fresh `static` volume starts owned by intelshare.
RUN pip install --no-cache-dir . && useradd --system --home /app intelshare \
    && mkdir -p /var/lib/intelshare/static && chown -R intelshare /var/lib/intelshare
USER intelshare
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4"]
