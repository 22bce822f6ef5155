"""Types of the C fast path (_fastsum.c)."""

from typing import TypeVar

T = TypeVar("T", bound=tuple[object, ...])

class Sums:
    good_rows: int
    total: int
    def __init__(
        self,
        n_fields: int,
        ts: int,
        warehouse: int,
        item_id: int,
        item_name: int,
        change: int,
        safe_name: int,
        max_line_bytes: int,
        no_name_time: int,
    ) -> None: ...
    def feed(self, block: bytes, first_line: int) -> list[tuple[int, bytes]]: ...
    def add(self, warehouse: str, item_id: str, item_name: str, name_time: int, line: int, change: int) -> None: ...
    def pairs(self, tuple_type: type[T]) -> list[T]: ...
