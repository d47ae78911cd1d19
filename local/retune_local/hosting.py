"""Hosting: models, endpoint configurations and endpoints, with SageMaker's semantics:

- CreateModel from a model package needs the package Approved;
- CreateEndpoint and UpdateEndpoint return at once with the endpoint Creating or Updating; it turns InService
  afterwards (at once in the deterministic mode) and each status sends "SageMaker Endpoint State Change".
Missing resources are ValidationException, as SageMaker reports them for these calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from retune_local import errors
from retune_local.context import Context
from retune_local.events import ENDPOINT_STATE_CHANGE, endpoint_detail, envelope
from retune_local.records import Record, Records, public
from retune_local.registry import ModelRegistry


class Hosting:
    """endpoint_seconds: in the real-time mode, how long an endpoint stays Creating or Updating."""

    def __init__(
        self, ctx: Context, records: Records, registry: ModelRegistry, endpoint_seconds: float = 1.0
    ) -> None:
        self.ctx = ctx
        self.records = records
        self.registry = registry
        self.endpoint_seconds = endpoint_seconds
        self.models = records.kinds["models"]
        self.endpoint_configs = records.kinds["endpoint_configs"]
        self.endpoints = records.kinds["endpoints"]
        self._timers: list[threading.Timer] = []

    # -- models ----------------------------------------------------------------------------------------------

    def create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        with self.ctx.lock:
            if name.lower() in self.models:
                raise errors.validation(
                    f'Cannot create already existing model "{self.ctx.account.arn("model", name)}".'
                )
            containers = (
                [params["PrimaryContainer"]] if "PrimaryContainer" in params else params.get("Containers", [])
            )
            for container in containers:
                package_name = container.get("ModelPackageName")
                if package_name:
                    package = self.registry.package(package_name)
                    if package.get("ModelApprovalStatus") != "Approved":
                        raise errors.validation(
                            f"Model package {package['ModelPackageArn']} is not approved "
                            f"(ModelApprovalStatus {package.get('ModelApprovalStatus')}): "
                            "only Approved packages deploy"
                        )
            arn = self.ctx.account.arn("model", name)
            self.records.put("models", name.lower(), self.records.echoing(params, "ModelArn", arn))
        return {"ModelArn": arn}

    # -- endpoint configurations -----------------------------------------------------------------------------

    def create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        with self.ctx.lock:
            arn = self.ctx.account.arn("endpoint-config", name)
            if name.lower() in self.endpoint_configs:
                raise errors.validation(f'Cannot create already existing endpoint configuration "{arn}".')
            for variant in params["ProductionVariants"]:
                if variant.get("ModelName", "").lower() not in self.models:
                    model_arn = self.ctx.account.arn("model", variant.get("ModelName", ""))
                    raise errors.validation(f'Could not find model "{model_arn}".')
            record = self.records.echoing(params, "EndpointConfigArn", arn)
            self.records.put("endpoint_configs", name.lower(), record)
        return {"EndpointConfigArn": arn}

    def _config(self, name: str) -> Record:
        config = self.endpoint_configs.get(name.lower())
        if config is None:
            raise errors.validation(
                f'Could not find endpoint configuration "{self.ctx.account.arn("endpoint-config", name)}".'
            )
        return config

    # -- endpoints -------------------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Record:
        endpoint = self.endpoints.get(name.lower())
        if endpoint is None:
            raise errors.validation(f'Could not find endpoint "{self.ctx.account.arn("endpoint", name)}".')
        return endpoint

    @staticmethod
    def _variants(config: Record) -> list[dict[str, Any]]:
        return [
            {
                "VariantName": variant["VariantName"],
                "DeployedImages": [],
                "CurrentWeight": float(variant.get("InitialVariantWeight", 1.0)),
                "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
                "CurrentInstanceCount": int(variant.get("InitialInstanceCount", 1)),
                "DesiredInstanceCount": int(variant.get("InitialInstanceCount", 1)),
            }
            for variant in config["ProductionVariants"]
        ]

    def _endpoint_changed(self, endpoint: Record) -> None:
        self.records.put("endpoints", endpoint["EndpointName"].lower(), endpoint)
        describe = public(endpoint, drop=("Tags",))
        self.ctx.bus.publish(
            envelope(
                self.ctx.account,
                ENDPOINT_STATE_CHANGE,
                endpoint["EndpointArn"],
                endpoint["LastModifiedTime"],
                endpoint_detail(describe, endpoint.get("Tags", [])),
            )
        )
        self.ctx.changed.notify_all()

    def _settle(self, name: str, config_name: str) -> None:
        """Creating/Updating → InService with the new configuration."""
        with self.ctx.lock:
            endpoint = self.endpoints.get(name.lower())
            if endpoint is None or endpoint["EndpointStatus"] not in ("Creating", "Updating"):
                return
            config = self.endpoint_configs[config_name.lower()]
            endpoint.update(
                {
                    "EndpointStatus": "InService",
                    "EndpointConfigName": config["EndpointConfigName"],
                    "ProductionVariants": self._variants(config),
                    "LastModifiedTime": self.ctx.wall(),
                }
            )
            endpoint.pop("_pending", None)
            self._endpoint_changed(endpoint)

    def _schedule(self, action: Callable[[], None]) -> None:
        if self.ctx.deterministic or self.endpoint_seconds <= 0:
            action()
            return
        timer = threading.Timer(self.endpoint_seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        with self.ctx.lock:
            arn = self.ctx.account.arn("endpoint", name)
            if name.lower() in self.endpoints:
                raise errors.validation(f'Cannot create already existing endpoint "{arn}".')
            config = self._config(config_name)
            now = self.ctx.wall()
            endpoint = {
                "EndpointName": name,
                "EndpointArn": arn,
                "EndpointConfigName": config["EndpointConfigName"],
                "EndpointStatus": "Creating",
                "CreationTime": now,
                "LastModifiedTime": now,
                "Tags": params.get("Tags", []),
                "_seq": self.records.next_seq(),
            }
            self._endpoint_changed(endpoint)
        self._schedule(lambda: self._settle(name, config_name))
        return {"EndpointArn": arn}

    def update_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        with self.ctx.lock:
            endpoint = self._endpoint(name)
            self._config(config_name)
            if endpoint["EndpointStatus"] != "InService":
                raise errors.validation(
                    f'Cannot update in-progress endpoint "{endpoint["EndpointArn"]}" '
                    f"(status {endpoint['EndpointStatus']})."
                )
            endpoint["EndpointStatus"] = "Updating"
            endpoint["LastModifiedTime"] = self.ctx.wall()
            endpoint["_pending"] = config_name
            self._endpoint_changed(endpoint)
        self._schedule(lambda: self._settle(name, config_name))
        return {"EndpointArn": endpoint["EndpointArn"]}

    def describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return public(self._endpoint(params["EndpointName"]), drop=("Tags",))

    def settled(self, name: str) -> bool:
        endpoint = self.endpoints.get(name.lower())
        return endpoint is not None and endpoint["EndpointStatus"] in ("InService", "Failed")

    def settle_pending(self) -> None:
        """After a restart: endpoints left Creating or Updating finish their change."""
        for endpoint in list(self.endpoints.values()):
            if endpoint["EndpointStatus"] in ("Creating", "Updating"):
                self._settle(
                    endpoint["EndpointName"], endpoint.get("_pending") or endpoint["EndpointConfigName"]
                )

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
