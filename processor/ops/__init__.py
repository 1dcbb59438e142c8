"""Operator tools: dead letters, unrouted, generated artefacts, migrate, health and HTTP."""
