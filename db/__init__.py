"""Persistence: SQLAlchemy models, the engine and units of work, one module per aggregate. Knows nothing of GraphQL."""
