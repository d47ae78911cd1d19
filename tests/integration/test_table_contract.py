"""The same contract for both table backends: the unit tests' MemoryTable behaves as DynamoDB (on moto) does."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from retune.store import Store, profile_pk, round_sk
from retune.table import (
    ABSENT,
    PRESENT,
    Check,
    Condition,
    ConditionFailed,
    Delete,
    DynamoTable,
    ItemTooLarge,
    MemoryTable,
    Put,
    Table,
)

from tests.moto_env import create_state_table


@pytest.fixture(params=["memory", "dynamodb"])
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    if request.param == "memory":
        yield MemoryTable()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        yield DynamoTable(client, create_state_table(client))


def item(pk: str, sk: str, **attributes: object) -> dict:
    return {"pk": pk, "sk": sk, "doc": "{}", **attributes}


def test_table_put_if_absent_fails_when_present(table: Table) -> None:
    table.write([Put(item("P", "A", n=1), ABSENT)])
    with pytest.raises(ConditionFailed):
        table.write([Put(item("P", "A", n=2), ABSENT)])
    assert table.get("P", "A")["n"] == 1


def test_table_equals_condition_guards_updates(table: Table) -> None:
    table.write([Put(item("P", "A", state="queued", version="v1"))])
    table.write([Put(item("P", "A", state="started", version="v1"), Condition(equals={"state": "queued"}))])
    with pytest.raises(ConditionFailed):
        table.write(
            [Put(item("P", "A", state="failed", version="v1"), Condition(equals={"state": "queued"}))]
        )
    assert table.get("P", "A")["state"] == "started"


def test_table_transaction_is_all_or_nothing_and_names_the_failed_operation(table: Table) -> None:
    table.write([Put(item("P", "ACTIVE", seq=1))])
    with pytest.raises(ConditionFailed) as info:
        table.write([Put(item("P", "ROUND#0002")), Put(item("P", "ACTIVE", seq=2), ABSENT)])
    assert info.value.index == 1
    assert table.get("P", "ROUND#0002") is None
    assert table.get("P", "ACTIVE")["seq"] == 1


def test_table_check_and_delete_in_a_transaction(table: Table) -> None:
    table.write([Put(item("P", "QUEUED", drop_id="d1"))])
    table.write([Delete("P", "QUEUED", Condition(equals={"drop_id": "d1"})), Check("P", "ACTIVE", ABSENT)])
    assert table.get("P", "QUEUED") is None
    with pytest.raises(ConditionFailed):
        table.write([Check("P", "QUEUED", PRESENT), Put(item("P", "X"))])


def test_table_query_by_prefix_in_both_directions(table: Table) -> None:
    for sk in ("ROUND#0001", "ROUND#0001#TRIAL#a", "ROUND#0002", "DROP#x", "PLAN"):
        table.write([Put(item("P", sk))])
    table.write([Put(item("Q", "ROUND#0009"))])
    assert [i["sk"] for i in table.query("P", "ROUND#")] == ["ROUND#0001", "ROUND#0001#TRIAL#a", "ROUND#0002"]
    assert [i["sk"] for i in table.query("P", "ROUND#", descending=True, limit=1)] == ["ROUND#0002"]


def test_table_query_from_a_start_key_within_the_prefix(table: Table) -> None:
    """Issue 17 item 20: a bounded read of the newest rounds starts at a sort key, and stays within the prefix."""
    for sk in (
        "DROP#z",
        "ROUND#0001",
        "ROUND#0002",
        "ROUND#0002#TRIAL#a",
        "ROUND#10000",
        "ROUND#a10001",
        "ROUNDS",
    ):
        table.write([Put(item("P", sk))])
    assert [i["sk"] for i in table.query("P", "ROUND#", start="ROUND#0002")] == [
        "ROUND#0002",
        "ROUND#0002#TRIAL#a",
        "ROUND#10000",
        "ROUND#a10001",
    ]
    assert [i["sk"] for i in table.query("P", "ROUND#", start="ROUND#2")] == ["ROUND#a10001"]
    assert [i["sk"] for i in table.query("P", "ROUND#", start="A")] == [
        "ROUND#0001",
        "ROUND#0002",
        "ROUND#0002#TRIAL#a",
        "ROUND#10000",
        "ROUND#a10001",
    ]


def test_table_index_finds_sparse_items(table: Table) -> None:
    table.write([Put(item("PROFILE#a", "ACTIVE", gsi1pk="ACTIVE", gsi1sk="a"))])
    table.write([Put(item("PROFILE#b", "ACTIVE", gsi1pk="ACTIVE", gsi1sk="b"))])
    table.write([Put(item("PROFILE#b", "QUEUED", gsi1pk="QUEUED", gsi1sk="b"))])
    assert [i["pk"] for i in table.query_index("ACTIVE")] == ["PROFILE#a", "PROFILE#b"]


def test_table_refuses_an_item_over_400_kb_alone_or_in_a_transaction(table: Table) -> None:
    # DynamoDB's limit is 400 KB (409,600 bytes) of attribute names and values; moto's is 405,000 bytes.
    big = "x" * 410_000
    with pytest.raises(ItemTooLarge, match="P/BIG"):
        table.write([Put(item("P", "BIG", doc=big))])
    with pytest.raises(ItemTooLarge, match="P/BIG"):
        table.write([Put(item("P", "SMALL")), Put(item("P", "BIG", doc=big))])
    assert table.get("P", "BIG") is None and table.get("P", "SMALL") is None
    table.write([Put(item("P", "NEAR", doc="x" * 400_000))])
    assert len(table.get("P", "NEAR")["doc"]) == 400_000


def test_a_rounds_read_is_strongly_consistent() -> None:
    """StartRound's read of the round after it created incumbents must see a stop written before it (DynamoDB's
    default GetItem is eventually consistent, and could return the round `starting` after the stop's write)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        key = {"pk": {"S": profile_pk("market-xgb")}, "sk": {"S": round_sk(2)}}
        stubber.add_response("get_item", {}, {"TableName": "state", "Key": key, "ConsistentRead": True})
        assert Store(DynamoTable(client, "state")).get_round("market-xgb", 2) is None
        stubber.assert_no_pending_responses()
