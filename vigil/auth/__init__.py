"""Users, passwords (argon2) and API tokens."""
