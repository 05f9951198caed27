"""GraphQL fields per domain: check the input, call db/ or jobs/, map rows to schema types. Thin by rule."""
