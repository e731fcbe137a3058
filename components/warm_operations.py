"""The dynamic provider's operations under their old name, for providers already pickled in state.

Every stack deployed before the move holds a provider pickled by value whose `_operations()` imports
`components.warm_operations` by name; removing this module would break `up`, `refresh` and `destroy`
for those stacks until each is warmed again with a new pickle. New pickles import `components.warm.operations`.
"""

from components.warm.operations import create, delete, diff, read, update, warm_image

__all__ = ["create", "delete", "diff", "read", "update", "warm_image"]
