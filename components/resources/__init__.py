"""ComponentResources: each takes an Args dataclass of plain values and Inputs, and only wires resources."""
