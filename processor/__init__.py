"""The consuming side: applies webhooks from RabbitMQ to the POS in Postgres, exactly once."""
