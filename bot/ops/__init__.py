"""Operations: health check, metrics, logs, calendar export, backup."""
