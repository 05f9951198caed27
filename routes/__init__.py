"""Plain HTTP routes and middleware beside GraphQL: image bytes, uploads and export downloads, browser sessions,
who the caller is, the request guard and the mapping of domain errors to HTTP answers."""
