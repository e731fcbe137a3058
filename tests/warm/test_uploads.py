"""Upload parts within ECR's limits (`warm.uploads.part_size`)."""

from __future__ import annotations

import pytest

from components.warm.errors import BodyTooLarge
from components.warm.uploads import MAX_PART_BYTES, MAX_PARTS, PART_BYTES, part_size

MiB = 1024 * 1024


@pytest.mark.parametrize(
    "size, part",
    [
        (0, PART_BYTES),
        (1, PART_BYTES),
        (PART_BYTES * MAX_PARTS, PART_BYTES),  # 33,600 MiB still fits 8 MiB parts
        (PART_BYTES * MAX_PARTS + 1, PART_BYTES + 1),  # past it, parts grow just enough
        (MAX_PART_BYTES * MAX_PARTS, MAX_PART_BYTES),
    ],
)
def test_parts_are_8_mib_and_grow_only_to_stay_within_4200(size: int, part: int) -> None:
    assert part_size(size) == part
    assert -(-size // part) <= MAX_PARTS
    assert 5 * MiB <= part <= 10 * MiB


def test_a_layer_no_part_size_can_carry_is_refused_before_a_byte_is_sent() -> None:
    with pytest.raises(BodyTooLarge, match="ECR takes at most 4200 parts of at most 10485760 bytes"):
        part_size(MAX_PART_BYTES * MAX_PARTS + 1)
