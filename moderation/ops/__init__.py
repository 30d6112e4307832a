"""What operators read: queue statistics, Prometheus metrics, worker heartbeat facts."""
