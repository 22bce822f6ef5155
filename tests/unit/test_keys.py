from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.files.keys import (
    BadKey,
    check_layout,
    classify_key,
    file_stamp,
    key_date,
    key_for_upload,
    key_in_folder,
    normalize_key,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "/inventory_files/2021/02/15/20210215120000_inventory.csv",
            "inventory_files/2021/02/15/20210215120000_inventory.csv",
        ),
        (
            "restock_thresholds/2021/02/15/restock_thresholds.json",
            "restock_thresholds/2021/02/15/restock_thresholds.json",
        ),
        ("inventory_files/a b/ü.csv", "inventory_files/a b/ü.csv"),
    ],
)
def test_GIVEN_clean_key_WHEN_normalized_THEN_one_leading_slash_dropped(key: str, expected: str) -> None:
    assert normalize_key(key) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "empty"),
        ("/", "empty"),
        ("//inventory_files/x.csv", "must start with inventory_files/ or restock_thresholds/"),
        ("inventory_files/a\x00.csv", "control character"),
        ("inventory_files/a\nb.csv", "control character"),
        ("inventory_files\\a.csv", "backslash"),
        ("inventory_files/../secret.csv", "'..'"),
        ("inventory_files/./a.csv", "'.'"),
        ("inventory_files//a.csv", "empty"),
        ("inventory_files/2021/", "ends in /"),
        ("inventory_files/", "ends in /"),
        ("inventory_files/" + "a" * 1010, "more than 1024"),
        ("inventory_files/" + "ü" * 510, "more than 1024"),
        ("other/a.csv", "must start with"),
        ("Inventory_files/a.csv", "must start with"),
        ("inventory_files/\ud800.csv", "not valid Unicode"),
    ],
)
def test_GIVEN_bad_key_WHEN_normalized_THEN_bad_key_sentence(key: str, message: str) -> None:
    with pytest.raises(BadKey, match=message.replace(".", r"\.")):
        normalize_key(key)


def test_GIVEN_keys_WHEN_classified_THEN_kind_by_prefix_and_thresholds_need_json() -> None:
    assert classify_key("/inventory_files/2021/02/15/20210215120000_inventory.csv") == "inventory"
    assert classify_key("restock_thresholds/2021/02/15/restock_thresholds.JSON") == "thresholds"
    with pytest.raises(BadKey, match=r"must end with \.json"):
        classify_key("restock_thresholds/2021/02/15/restock_thresholds.csv")
    with pytest.raises(BadKey):
        classify_key("uploads/x.json")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("inventory_files/2021/02/15/20210215120001_inventory.csv", datetime(2021, 2, 15, 12, 0, 1, tzinfo=UTC)),
        ("202102151200_inventory.csv", datetime(2021, 2, 15, 12, 0, tzinfo=UTC)),
        ("inventory_files/x/2021021512000_inventory.csv", None),  # 13 digits
        ("20211315120000_inventory.csv", None),  # month 13
        ("20210215250000_inventory.csv", None),
        ("inventory_files/20210215120000/x.csv", None),  # stamp in a folder, not the file name
        ("x20210215120000.csv", None),
        ("\u0662\u0660\u0662\u0661\u0660\u0662\u0661\u0665\u0661\u0662\u0660\u0660.csv", None),
    ],
)
def test_GIVEN_file_name_WHEN_file_stamp_THEN_utc_time_or_none(key: str, expected: datetime | None) -> None:
    assert file_stamp(key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("/inventory_files/2021/02/15/x.csv", date(2021, 2, 15)),
        ("inventory_files/2021/2/5/x.csv", date(2021, 2, 5)),
        ("inventory_files/2021/02/30/20210301120000_inventory.csv", date(2021, 3, 1)),
        ("inventory_files/21/02/15/x.csv", None),
        ("inventory_files/2021/02/15", None),
        ("inventory_files/20210215120000_inventory.csv", date(2021, 2, 15)),
        ("restock_thresholds/2021/12/31/restock_thresholds.json", date(2021, 12, 31)),
    ],
)
def test_GIVEN_key_WHEN_key_date_THEN_folder_date_else_stamp_else_none(key: str, expected: date | None) -> None:
    assert key_date(key) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("20210215120000_inventory.csv", "inventory_files/2021/02/15/20210215120000_inventory.csv"),
        ("202102151200_inventory.csv", "inventory_files/2021/02/15/202102151200_inventory.csv"),
        ("restock_thresholds.json", "restock_thresholds/2024/01/02/restock_thresholds.json"),
        ("/tmp/data/20210216000000_new.json", "restock_thresholds/2021/02/16/20210216000000_new.json"),
    ],
)
def test_GIVEN_local_file_name_WHEN_key_for_upload_THEN_dated_key(name: str, expected: str) -> None:
    key = key_for_upload(name, date(2024, 1, 2))
    assert key == expected
    assert classify_key(key) in ("inventory", "thresholds")


@pytest.mark.parametrize("name", ["notes.csv", "inventory.xlsx", "data", "..", "inventory\x00.csv"])
def test_GIVEN_unrecognised_name_WHEN_key_for_upload_THEN_bad_key(name: str) -> None:
    with pytest.raises(BadKey):
        key_for_upload(name, date(2024, 1, 2))


@pytest.mark.parametrize(
    "name", ["my_inventory.tsv", "Inventory-Export.TXT", "inventory.csv", "99999999999999_inventory.csv"]
)
def test_GIVEN_an_inventory_file_without_a_real_date_stamp_WHEN_key_for_upload_THEN_refused(name: str) -> None:
    # A guessed day would change when the same file is sent again, and its rows would count twice.
    with pytest.raises(BadKey, match=r"cannot tell which day .* YYYYMMDDHHMMSS_inventory.csv .* or pass --key"):
        key_for_upload(name, date(2024, 1, 2))


def test_GIVEN_unrecognised_name_WHEN_key_for_upload_THEN_message_says_pass_key() -> None:
    with pytest.raises(BadKey, match="pass --key"):
        key_for_upload("notes.csv", date(2024, 1, 2))


@pytest.mark.parametrize(
    "key",
    [
        "/inventory_files/2021/02/15/20210215120000_inventory.csv",
        "inventory_files/2024/02/29/any name.tsv",
        "restock_thresholds/2021/12/31/restock_thresholds_2.json",
    ],
)
def test_GIVEN_dated_key_WHEN_layout_checked_THEN_accepted(key: str) -> None:
    check_layout(key)


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("inventory_files/2024/13/45/x.csv", "inventory_files/"),  # no such date
        ("inventory_files/2023/02/29/x.csv", "inventory_files/"),
        ("inventory_files/2024/1/2/x.csv", "inventory_files/"),  # partitions are zero-padded
        ("inventory_files/a/b/c/d/e.bin", "inventory_files/"),
        ("inventory_files/x.csv", "inventory_files/"),
        ("restock_thresholds/2024/01/02/deeper/t.json", "restock_thresholds/"),
    ],
)
def test_GIVEN_key_outside_the_dated_layout_WHEN_checked_THEN_refused_naming_it(key: str, prefix: str) -> None:
    # Athena's partitions and `inventory sql --from/--to` find files only under <prefix>/YYYY/MM/DD/.
    with pytest.raises(BadKey) as info:
        check_layout(key)
    assert f"must look like {prefix}YYYY/MM/DD/<file name>, with a real date" in str(info.value)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        # laid out like the bucket: the path is the key, even where the name would date it otherwise
        (
            "inventory_files/2021/02/15/20210219110000_inventory.csv",
            "inventory_files/2021/02/15/20210219110000_inventory.csv",
        ),
        (
            "restock_thresholds/2021/02/15/restock_thresholds.json",
            "restock_thresholds/2021/02/15/restock_thresholds.json",
        ),
        # anywhere else: the key `put FILE` derives from the name
        ("20210219110000_inventory.csv", "inventory_files/2021/02/19/20210219110000_inventory.csv"),
        ("from-berlin/20210219110000_inventory.csv", "inventory_files/2021/02/19/20210219110000_inventory.csv"),
        ("restock_thresholds.json", "restock_thresholds/2024/01/02/restock_thresholds.json"),
    ],
)
def test_GIVEN_file_in_a_folder_WHEN_key_in_folder_THEN_its_layout_else_the_put_file_key(
    relative: str, expected: str
) -> None:
    # GIVEN a file at `relative` in a folder (put FOLDER, serve's inbox) WHEN its key is found
    key = key_in_folder(relative, date(2024, 1, 2))
    # THEN a laid-out path keeps its key, any other gets exactly what `put FILE` gives its name
    assert key == expected
    if not relative.startswith(("inventory_files/", "restock_thresholds/")):
        assert key == key_for_upload(relative, date(2024, 1, 2))


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("notes.txt", "key 'notes.txt' must start with inventory_files/ or restock_thresholds/"),
        ("elsewhere/notes.txt", "key 'elsewhere/notes.txt' must start with inventory_files/ or restock_thresholds/"),
        ("inventory_files/20210219110000_inventory.csv", "must look like inventory_files/YYYY/MM/DD/<file name>"),
        ("inventory_files/2024/13/45/x.csv", "must look like inventory_files/YYYY/MM/DD/<file name>"),
        ("restock_thresholds/2024/01/02/t.csv", "thresholds key 'restock_thresholds/2024/01/02/t.csv' must end"),
    ],
)
def test_GIVEN_file_whose_path_gives_no_key_WHEN_key_in_folder_THEN_refused_with_the_layout_reason(
    relative: str, message: str
) -> None:
    # GIVEN a name that is not derivable, or a path under a prefix that is not laid out like a key
    # WHEN its key is found THEN it is refused with the reason a laid-out key would have
    with pytest.raises(BadKey) as info:
        key_in_folder(relative, date(2024, 1, 2))
    assert message in str(info.value)
