"""The alerts topic. Publishing is idempotent on the alert's key (Powertools idempotency, DynamoDB)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from retune.adapters.errors import translated
from retune.alerts import Alert


class AlertSink(Protocol):
    def publish(self, alert: Alert) -> None: ...


class Topic:
    def __init__(
        self,
        client: Any,
        topic_arn: str,
        idempotency_table: str | None = None,
        dynamodb_client: Any = None,
    ) -> None:
        self._client = client
        self._topic_arn = topic_arn
        self._idempotency_table = idempotency_table
        self._dynamodb_client = dynamodb_client
        self._publish_once: Callable[..., Any] | None = None if idempotency_table else self._send
        self._config: Any = None
        self._context: Any = None

    def register_lambda_context(self, context: Any) -> None:
        """Lets an interrupted publish be retried once the invocation's time is up (else it waits for expiry)."""
        self._context = context
        if self._config is not None:
            self._config.register_lambda_context(context)

    def publish(self, alert: Alert) -> None:
        if self._publish_once is None:
            self._publish_once = self._idempotent_send()
        self._publish_once(alert=alert)

    def _idempotent_send(self) -> Callable[..., Any]:
        """Built at the first publish, not with the topic: most invocations alert nothing, and Powertools'
        idempotency modules are then never imported (a cold start's cost; benchmarks/cold_start.py)."""
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        # Given the function's DynamoDB client, Powertools builds no session and client of its own.
        persistence = DynamoDBPersistenceLayer(
            table_name=str(self._idempotency_table), boto3_client=self._dynamodb_client
        )
        self._config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=7 * 24 * 3600)
        if self._context is not None:
            self._config.register_lambda_context(self._context)
        # One key space for every function: Powertools prefixes keys with the Lambda function's name by
        # default, and then Promote and Reconcile, deciding the same round, would each publish its alert.
        send: Callable[..., Any] = idempotent_function(
            data_keyword_argument="alert",
            persistence_store=persistence,
            config=self._config,
            key_prefix="retune-alerts",
        )(self._send)
        return send

    def _send(self, alert: Alert) -> dict[str, str]:
        with translated("sns"):
            response = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=alert.sns_subject,
                Message=alert.body,
                MessageAttributes={
                    "profile": {"DataType": "String", "StringValue": alert.profile},
                    "outcome": {"DataType": "String", "StringValue": alert.outcome},
                },
            )
        return {"message_id": response["MessageId"]}
