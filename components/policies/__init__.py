"""Pure builders of the JSON and text documents the stack deploys (IAM, lifecycle, network, nodes, alerts)."""
