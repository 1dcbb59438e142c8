"""TEvo's API: the signed client, its retry policy, verification of webhooks, reconciliation."""
