"""The dispatch queue: its interface, the notice table, Redis Streams, the relay."""
