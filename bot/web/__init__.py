"""The HTTP app: routes, the dispatch API, the edge guard, health and metrics."""
