"""State several processes share: per-conversation locks, rate limits, pub/sub."""
