"""The PostgreSQL/PostGIS store: connection pool, schema migrations, the adapter of every port."""
