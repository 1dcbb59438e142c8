"""The Point of Sale in Postgres: plain SQL per record kind, run in the dispatcher's transaction."""
