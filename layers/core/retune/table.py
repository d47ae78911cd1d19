"""The state table's port: the few DynamoDB operations the store needs, with conditions and transactions.

Two backends: `DynamoTable` (boto3, in the Lambda functions) and `MemoryTable` (the unit tests' fake, with the
same condition and transaction semantics). Items are flat dicts of strings, numbers and booleans plus one `doc`
attribute holding the record as JSON, so no float ever has to become a Decimal.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from retune.adapters.errors import error_code, translated
from retune.errors import ConditionFailed as ConditionFailed  # noqa: PLC0414 (the table's answer, re-exported)
from retune.errors import ConflictError, PermanentError

Item = dict[str, Any]
PREFIX_END = "\U0010ffff"  # sorts after every character a key holds after its prefix
# DynamoDB's item limit: 400 KB of attribute names and values (UTF-8 lengths), 1 KB = 1,024 bytes.
ITEM_MAX_BYTES = 409_600


class Condition(NamedTuple):
    """All of: the item is absent (`absent`), present (`present`), and its attributes equal `equals`."""

    absent: bool = False
    present: bool = False
    equals: Mapping[str, Any] = MappingProxyType({})

    def holds(self, item: Item | None) -> bool:
        if self.absent:
            return item is None
        if (self.present or self.equals) and item is None:
            return False
        return all(item is not None and item.get(k) == v for k, v in self.equals.items())


ABSENT = Condition(absent=True)
PRESENT = Condition(present=True)


class Put(NamedTuple):
    item: Item
    condition: Condition | None = None


class Delete(NamedTuple):
    pk: str
    sk: str
    condition: Condition | None = None


class Check(NamedTuple):
    pk: str
    sk: str
    condition: Condition


Operation = Put | Delete | Check


class ItemTooLarge(PermanentError):
    """An item over DynamoDB's 400 KB limit: no retry makes it fit."""

    def __init__(self, pk: str, sk: str, size: int | None = None) -> None:
        self.pk, self.sk = pk, sk
        measured = f"{size} bytes, " if size is not None else ""
        super().__init__(f"item {pk}/{sk} is over DynamoDB's item limit ({measured}at most {ITEM_MAX_BYTES})")


def item_size(item: Item) -> int:
    """An item's size as DynamoDB counts it: each attribute's name plus its value (strings as UTF-8, numbers
    about one byte per two significant digits plus one, booleans and nulls one byte)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items() if value is not None)


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        digits = len(str(abs(value)).replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + 1 + _value_size(v) for k, v in value.items())
    return 3 + sum(1 + _value_size(v) for v in value)


class Table(Protocol):
    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None: ...

    def query(
        self,
        pk: str,
        sk_prefix: str,
        *,
        descending: bool = False,
        limit: int | None = None,
        start: str | None = None,
    ) -> list[Item]:
        """The items of `pk` whose sort key begins with `sk_prefix` (and, given `start`, is at least `start`), in
        sort-key order."""
        ...

    def query_index(self, gsi1pk: str) -> list[Item]: ...

    def write(self, operations: Sequence[Operation]) -> None:
        """One operation alone, or up to 100 atomically. Raises ConditionFailed(index) when a condition fails."""
        ...


class MemoryTable:
    """An in-memory table with DynamoDB's condition and transaction semantics (the tests' fake)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None:
        item = self.items.get((pk, sk))
        return copy.deepcopy(item) if item is not None else None

    def query(
        self,
        pk: str,
        sk_prefix: str,
        *,
        descending: bool = False,
        limit: int | None = None,
        start: str | None = None,
    ) -> list[Item]:
        keys = sorted(
            k
            for k in self.items
            if k[0] == pk and k[1].startswith(sk_prefix) and (start is None or k[1] >= start)
        )
        if descending:
            keys.reverse()
        return [copy.deepcopy(self.items[k]) for k in keys[:limit]]

    def query_index(self, gsi1pk: str) -> list[Item]:
        found = [item for item in self.items.values() if item.get("gsi1pk") == gsi1pk]
        return copy.deepcopy(sorted(found, key=lambda i: (i.get("gsi1sk", ""), i["pk"], i["sk"])))

    def write(self, operations: Sequence[Operation]) -> None:
        if not 1 <= len(operations) <= 100:
            raise ValueError("a write takes 1 to 100 operations")
        with self._lock:
            keys = [_key_of(op) for op in operations]
            if len(set(keys)) != len(keys):
                raise ValueError("a transaction may touch each item once")
            for op in operations:
                if isinstance(op, Put) and (size := item_size(op.item)) > ITEM_MAX_BYTES:
                    raise ItemTooLarge(op.item["pk"], op.item["sk"], size)
            for index, op in enumerate(operations):
                condition = op.condition
                if condition is not None and not condition.holds(self.items.get(_key_of(op))):
                    raise ConditionFailed(index)
            for op in operations:
                if isinstance(op, Put):
                    self.items[(op.item["pk"], op.item["sk"])] = copy.deepcopy(op.item)
                elif isinstance(op, Delete):
                    self.items.pop((op.pk, op.sk), None)
            self.writes += 1


def _says_too_large(message: object) -> bool:
    return "item size" in str(message).lower() and "exceeded" in str(message).lower()


def _too_large(op: Operation) -> ItemTooLarge:
    pk, sk = _key_of(op)
    return ItemTooLarge(pk, sk, item_size(op.item) if isinstance(op, Put) else None)


def _key_of(op: Operation) -> tuple[str, str]:
    if isinstance(op, Put):
        return op.item["pk"], op.item["sk"]
    return op.pk, op.sk


# --- DynamoDB -----------------------------------------------------------------------------------------------


class DynamoTable:
    """The state table in DynamoDB, through a low-level boto3 client (no resource layer: cheaper cold start)."""

    def __init__(self, client: Any, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415 (boto3 stays in adapters)

        self._client = client
        self._name = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None:
        with translated("dynamodb"):
            response = self._client.get_item(
                TableName=self._name, Key=self._key(pk, sk), ConsistentRead=consistent
            )
        raw = response.get("Item")
        return self._from_dynamo(raw) if raw else None

    def query(
        self,
        pk: str,
        sk_prefix: str,
        *,
        descending: bool = False,
        limit: int | None = None,
        start: str | None = None,
    ) -> list[Item]:
        params: dict[str, Any] = {
            "TableName": self._name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            "ScanIndexForward": not descending,
            "ConsistentRead": True,
        }
        if start is not None:
            # A key condition takes one comparison on the sort key: from `start` to the last key that can begin
            # with the prefix (DynamoDB orders strings by their UTF-8 bytes; U+10FFFF's are the highest).
            params["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :start AND :end"
            params["ExpressionAttributeValues"] = {
                ":pk": {"S": pk},
                ":start": {"S": max(start, sk_prefix)},
                ":end": {"S": sk_prefix + PREFIX_END},
            }
        return self._paged("query", params, limit)

    def query_index(self, gsi1pk: str) -> list[Item]:
        params: dict[str, Any] = {
            "TableName": self._name,
            "IndexName": "ByStatus",
            "KeyConditionExpression": "gsi1pk = :g",
            "ExpressionAttributeValues": {":g": {"S": gsi1pk}},
        }
        return self._paged("query", params, None)

    def write(self, operations: Sequence[Operation]) -> None:
        if not 1 <= len(operations) <= 100:
            raise ValueError("a write takes 1 to 100 operations")
        if len(operations) == 1:
            self._write_one(operations[0])
            return
        with translated("dynamodb"), self._item_size_checked(operations):
            try:
                self._client.transact_write_items(
                    TransactItems=[self._transact_item(op) for op in operations]
                )
            except self._client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                for index, reason in enumerate(reasons):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        raise ConditionFailed(index) from exc
                    if reason.get("Code") == "ValidationError" and _says_too_large(reason.get("Message")):
                        raise _too_large(operations[index]) from exc
                codes = {r.get("Code") for r in reasons}
                if codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                    raise ConflictError(f"transaction cancelled: {sorted(c for c in codes if c)}") from exc
                raise

    # helpers

    @contextmanager
    def _item_size_checked(self, operations: Sequence[Operation]) -> Iterator[None]:
        """DynamoDB refuses an item over its limit with ValidationException, whose message is the only sign of
        the cause (in a transaction: a cancellation reason `ValidationError`, or, as moto answers, the
        exception itself)."""
        try:
            yield
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if error_code(exc) == "ValidationException" and _says_too_large(message):
                puts = [op for op in operations if isinstance(op, Put)]
                biggest = max(puts, key=lambda op: item_size(op.item)) if puts else operations[0]
                raise _too_large(biggest) from exc
            raise

    def _write_one(self, op: Operation) -> None:
        params: dict[str, Any] = {"TableName": self._name}
        params.update(self._condition_params(op.condition))
        with translated("dynamodb"), self._item_size_checked([op]):
            try:
                if isinstance(op, Put):
                    self._client.put_item(Item=self._to_dynamo(op.item), **params)
                elif isinstance(op, Delete):
                    self._client.delete_item(Key=self._key(op.pk, op.sk), **params)
                # A lone check: read and compare (DynamoDB has no single-item ConditionCheck outside a
                # transaction).
                elif not op.condition.holds(self.get(op.pk, op.sk)):
                    raise ConditionFailed(0)
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                raise ConditionFailed(0) from exc

    def _transact_item(self, op: Operation) -> dict[str, Any]:
        params: dict[str, Any] = {"TableName": self._name, **self._condition_params(op.condition)}
        if isinstance(op, Put):
            return {"Put": {"Item": self._to_dynamo(op.item), **params}}
        if isinstance(op, Delete):
            return {"Delete": {"Key": self._key(op.pk, op.sk), **params}}
        return {"ConditionCheck": {"Key": self._key(op.pk, op.sk), **params}}

    def _condition_params(self, condition: Condition | None) -> dict[str, Any]:
        if condition is None:
            return {}
        clauses, names, values = [], {}, {}
        if condition.absent:
            clauses.append("attribute_not_exists(pk)")
        if condition.present:
            clauses.append("attribute_exists(pk)")
        for i, (attr, value) in enumerate(sorted(condition.equals.items())):
            names[f"#c{i}"] = attr
            values[f":c{i}"] = self._ser.serialize(value)
            clauses.append(f"#c{i} = :c{i}")
        params: dict[str, Any] = {"ConditionExpression": " AND ".join(clauses)}
        if names:
            params["ExpressionAttributeNames"] = names
            params["ExpressionAttributeValues"] = values
        return params

    def _paged(self, operation: str, params: dict[str, Any], limit: int | None) -> list[Item]:
        items: list[Item] = []
        while True:
            if limit is not None:
                params["Limit"] = limit - len(items)
            with translated("dynamodb"):
                response = getattr(self._client, operation)(**params)
            items.extend(self._from_dynamo(raw) for raw in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start or (limit is not None and len(items) >= limit):
                return items
            params["ExclusiveStartKey"] = start

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _to_dynamo(self, item: Item) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in item.items() if v is not None}

    def _from_dynamo(self, raw: dict[str, Any]) -> Item:
        out = {k: self._de.deserialize(v) for k, v in raw.items()}
        # Numbers come back as Decimal; the store only keeps integers outside `doc`.
        return {k: int(v) if type(v).__name__ == "Decimal" else v for k, v in out.items()}
