"""The Pulumi program's wiring: settings to components to the outputs contract, and the offline plan."""
