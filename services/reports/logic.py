"""reports: the questions management asks, answered from the stock table (CLI and HTTP API alike)."""

from __future__ import annotations

from typing import Any

from adapters.ports import StockRow, StockTable


class NotFound(LookupError):
    pass


def row_dict(row: StockRow) -> dict[str, Any]:
    return {
        "warehouse": row.warehouse,
        "item_id": row.item_id,
        "item_name": row.item_name,
        "level": row.level,
        "threshold": row.threshold,
        "below": row.below,
    }


def warehouse_report(
    table: StockTable,
    warehouse: str,
    min_level: int | None = None,
    after_item: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every item of a warehouse, or those with level strictly greater than min_level."""
    # Ingest strips names, so " Berlin 1 " (a copy-paste from a file) means "Berlin 1".
    warehouse = warehouse.strip()
    rows = table.warehouse_items(warehouse, min_level, after_item, limit)
    if not rows and not table.warehouse_exists(warehouse):
        raise NotFound(f"unknown warehouse: {warehouse}")
    return [row_dict(r) for r in rows]


def item_report(table: StockTable, item_id: str) -> dict[str, Any]:
    item_id = item_id.strip()
    total = table.item_total(item_id)
    if total is None:
        raise NotFound(f"unknown item: {item_id}")
    return {
        "item_id": total.item_id,
        "item_name": total.item_name,
        "total": total.total,
        "warehouses": [{"warehouse": w, "level": level} for w, level in total.warehouses],
    }


def restock_report(
    table: StockTable, after: tuple[str, str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    return [row_dict(r) for r in table.restock_list(after, limit)]
