"""Operator console: login, the live board, conversations, takeover, supervisors, audit."""
