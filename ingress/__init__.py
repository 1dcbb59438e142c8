"""The HTTP side: receives TEvo's webhooks and publishes them, confirmed, to RabbitMQ."""
