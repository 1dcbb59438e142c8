"""The fixed review reasons of the sales rules: the words an operator reads in `review list`.

Tests and the review watch match on them, so each is defined once. FRAUD_WAIT_EXCEEDED always
comes last in a sale's reasons (the watch appends it, see `processor.pos.review_watch`).
"""

CONFLICTING_FRAUD = "conflicting fraud decisions"
NO_FRAUD_STATUS = "waiting for Riskified: the order has no fraud_check_status"
FUTURE_TIMESTAMP = "a body's updated_at lies in the future: it ranks as undated"
FRAUD_WAIT_EXCEEDED = "waited longer than TEVO_FRAUD_WAIT_LIMIT for a fraud decision"
