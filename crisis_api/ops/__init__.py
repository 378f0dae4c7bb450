"""Operations: Prometheus metrics, structured logs, Celery context propagation and the
delivery-completeness audit (docs/operations.md)."""
