"""Every `TEVO_*` variable either program reads: a name outside this list is a typo or stale.

Both programs are often given one environment, so the ingress must not warn about the
processor's settings, nor the processor about the ingress's. A unit test fails while this list
and the two settings classes disagree: add a new setting's variable here.
"""

from __future__ import annotations

SHARED = frozenset(
    {
        "TEVO_AMQP_URL",
        "TEVO_LOG_FORMAT",
        "TEVO_LOG_LEVEL",
        "TEVO_LOG_MESSAGE_KEY",
        "TEVO_NAMESPACE",
        "TEVO_QUORUM_INITIAL_GROUP_SIZE",
    }
)
INGRESS = frozenset(
    {
        "TEVO_ALLOWED_NETWORKS",
        "TEVO_ALLOW_WEAK_TOKENS",
        "TEVO_BODY_TIMEOUT",
        "TEVO_CONFIRM_TIMEOUT",
        "TEVO_IDLE_TIMEOUT",
        "TEVO_INGRESS_HOST",
        "TEVO_INGRESS_PORT",
        "TEVO_INGRESS_REUSE_PORT",
        "TEVO_INGRESS_WORKERS",
        "TEVO_MAX_BODY_BYTES",
        "TEVO_MAX_FORM_FIELDS",
        "TEVO_MAX_IN_FLIGHT",
        "TEVO_PUBLISH_LINGER",
        "TEVO_TRUSTED_PROXIES",
        "TEVO_WEBHOOK_TOKENS",
    }
)
PROCESSOR = frozenset(
    {
        "TEVO_API_ATTEMPTS",
        "TEVO_API_CONCURRENCY",
        "TEVO_API_SECRET",
        "TEVO_API_TIMEOUT",
        "TEVO_API_TOKEN",
        "TEVO_API_URL",
        "TEVO_BATCH_CONCURRENCY",
        "TEVO_BATCH_LINGER",
        "TEVO_BATCH_SIZE",
        "TEVO_CONSOLE_BASE_URL",
        "TEVO_CONSOLE_HOST",
        "TEVO_CONSOLE_PORT",
        "TEVO_CONSOLE_SECRET_KEY",
        "TEVO_CONSOLE_SECURE_COOKIES",
        "TEVO_CONSOLE_SESSION_LIFETIME",
        "TEVO_DATABASE_URL",
        "TEVO_DB_POOL_SIZE",
        "TEVO_FRAUD_WAIT_LIMIT",
        "TEVO_HANDLER_TIMEOUT",
        "TEVO_HELD_DELIVERY_LIMIT",
        "TEVO_NOTIFY_URL",
        "TEVO_PREFETCH",
        "TEVO_PROCESSOR_HTTP_HOST",
        "TEVO_PROCESSOR_HTTP_PORT",
        "TEVO_RABBITMQ_API_URL",
        "TEVO_RETENTION_BATCH",
        "TEVO_RETENTION_DEAD_LETTERS",
        "TEVO_RETENTION_HISTORY",
        "TEVO_RETENTION_INBOX",
        "TEVO_RETENTION_PII",
        "TEVO_RETENTION_VERSIONS",
        "TEVO_RETRY_DELAYS",
        "TEVO_RETRY_MAX_ATTEMPTS",
        "TEVO_REVIEW_WATCH_INTERVAL",
        "TEVO_RISKIFIED",
        "TEVO_SHUTDOWN_TIMEOUT",
    }
)
ALL = SHARED | INGRESS | PROCESSOR
