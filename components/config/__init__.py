"""Stack configuration: where it comes from, its schema, its checks, and the resolved settings."""
