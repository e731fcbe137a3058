"""Pure domain model: image references, the catalogue, upstreams, the ECR grammar, logical names."""
