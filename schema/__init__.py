"""GraphQL surface: Strawberry types, inputs, enums, errors, context and loaders; `schema.build` assembles it."""
