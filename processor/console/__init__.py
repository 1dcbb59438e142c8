"""The operator console: a server-rendered web app over the POS, the broker and the audit."""
