"""The dynamic provider behind each warmed image.

Pulumi pickles a dynamic provider with dill into the state and loads it in a
separate process. dill pickles classes of importable modules by reference, and
that process may not be able to import this project (pulumi/pulumi#7453, #7795).
So the class below, and its methods, claim `__main__` as their module, which makes
dill pickle them by value, and its methods import the operations lazily from `project_root`.
It captures only that path: no secret, no config (pulumi/pulumi#8265, #17673).
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult


class CacheWarmProvider(ResourceProvider):
    serialize_as_secret_always = False

    def __init__(self, project_root: str) -> None:
        self.project_root = project_root

    def _operations(self) -> Any:
        import importlib
        import sys

        if self.project_root not in sys.path:
            sys.path.insert(0, self.project_root)
        return importlib.import_module("components.warm.operations")

    def create(self, props: dict[str, Any]) -> CreateResult:
        result: CreateResult = self._operations().create(props)
        return result

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result: DiffResult = self._operations().diff(olds, news)
        return result

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._operations().update(olds, news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        result: ReadResult = self._operations().read(id_, props)
        return result

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self._operations().delete(props)


def _pickle_by_value(cls: type) -> None:
    """dill pickles a class, and the functions in it, by value when they claim to live in `__main__`."""
    cls.__module__ = "__main__"
    for member in vars(cls).values():
        if callable(member) and hasattr(member, "__module__"):
            member.__module__ = "__main__"


_pickle_by_value(CacheWarmProvider)
