"""Components of the ECR pull-through cache program.

Kept empty on purpose: `python -m components warm` must start without importing Pulumi.
"""
