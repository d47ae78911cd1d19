"""Models, the model registry (groups and versioned packages) and endpoints, with SageMaker's semantics:

- a versioned package's version is the group's last version + 1; its ARN is
  .../model-package/<group>/<version>;
- CreateModelPackage with a ClientToken already used returns the package created with it;
- a package is created Completed, PendingManualApproval unless ModelApprovalStatus says otherwise; creation
  and every change of ModelApprovalStatus send "SageMaker Model Package State Change";
- CreateModel from a model package needs the package Approved;
- CreateEndpoint and UpdateEndpoint return at once with the endpoint Creating or Updating; it turns InService
  afterwards (at once in the deterministic mode) and each status sends "SageMaker Endpoint State Change".
Missing resources are ValidationException, as SageMaker reports them for these calls.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from retune_local import errors
from retune_local.context import Context
from retune_local.events import (
    ENDPOINT_STATE_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    endpoint_detail,
    envelope,
    model_package_detail,
)
from retune_local.shapes import paginate

CREATED_BY = {"UserProfileName": "retune-local", "DomainId": "local"}


def _sorted(
    items: list[dict[str, Any]], params: dict[str, Any], keys: dict[str, str], default: str
) -> list[dict[str, Any]]:
    field = keys[params.get("SortBy") or default]
    reverse = (params.get("SortOrder") or "Ascending") == "Descending"
    return sorted(items, key=lambda item: (item[field], item.get("_seq", 0)), reverse=reverse)


def _time_filters(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
    if after is not None:
        items = [i for i in items if i["CreationTime"] > float(after)]
    if before is not None:
        items = [i for i in items if i["CreationTime"] < float(before)]
    return items


class Registry:
    def __init__(self, ctx: Context, endpoint_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.endpoint_seconds = endpoint_seconds
        self.models: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, dict[str, Any]] = {}  # by lowercased ARN
        self.tokens: dict[str, str] = {}  # ClientToken -> package ARN
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._timers: list[threading.Timer] = []

    # -- persistence -----------------------------------------------------------------------------------------

    _KINDS = ("models", "groups", "packages", "endpoint_configs", "endpoints")

    def load(self) -> None:
        for kind in self._KINDS:
            getattr(self, kind).update(self.ctx.store.load(kind))
        for package in self.packages.values():
            if package.get("ClientToken"):
                self.tokens[package["ClientToken"]] = package["ModelPackageArn"]
        every = [r for kind in self._KINDS for r in getattr(self, kind).values()]
        self._seq = max((r.get("_seq", 0) for r in every), default=0)

    def _put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        getattr(self, kind)[key] = record
        self.ctx.store.put(kind, key, record)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @staticmethod
    def _public(record: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_") and k not in drop}

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
                    package = self._package(package_name)
                    if package.get("ModelApprovalStatus") != "Approved":
                        raise errors.validation(
                            f"Model package {package['ModelPackageArn']} is not approved "
                            f"(ModelApprovalStatus {package.get('ModelApprovalStatus')}): "
                            "only Approved packages deploy"
                        )
            arn = self.ctx.account.arn("model", name)
            record = {
                **copy.deepcopy(params),
                "ModelArn": arn,
                "CreationTime": self.ctx.wall(),
                "_seq": self._next_seq(),
            }
            record["Tags"] = params.get("Tags", [])
            self._put("models", name.lower(), record)
        return {"ModelArn": arn}

    # -- model package groups --------------------------------------------------------------------------------

    def create_model_package_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelPackageGroupName"]
        with self.ctx.lock:
            if name.lower() in self.groups:
                raise errors.validation(
                    f"Model Package Group already exists: {self.ctx.account.arn('model-package-group', name)}"
                )
            arn = self.ctx.account.arn("model-package-group", name)
            record = {
                "ModelPackageGroupName": name,
                "ModelPackageGroupArn": arn,
                "CreationTime": self.ctx.wall(),
                "CreatedBy": CREATED_BY,
                "ModelPackageGroupStatus": "Completed",
                "Tags": params.get("Tags", []),
                "_versions": 0,
                "_seq": self._next_seq(),
            }
            if params.get("ModelPackageGroupDescription"):
                record["ModelPackageGroupDescription"] = params["ModelPackageGroupDescription"]
            self._put("groups", name.lower(), record)
        return {"ModelPackageGroupArn": arn}

    def _group(self, name_or_arn: str) -> dict[str, Any]:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        group = self.groups.get(name.lower())
        if group is None:
            raise errors.validation(f"ModelPackageGroup {name_or_arn} does not exist.")
        return group

    def describe_model_package_group(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return self._public(self._group(params["ModelPackageGroupName"]), drop=("Tags",))

    def list_model_package_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self.groups.values())
            if params.get("NameContains"):
                items = [
                    g for g in items if params["NameContains"].lower() in g["ModelPackageGroupName"].lower()
                ]
            items = _sorted(
                _time_filters(items, params),
                params,
                {"Name": "ModelPackageGroupName", "CreationTime": "CreationTime"},
                "CreationTime",
            )
            return paginate(
                items,
                params,
                default_max=10,
                key="ModelPackageGroupSummaryList",
                render=lambda g: self._public(g, drop=("Tags", "CreatedBy")),
            )

    # -- model packages --------------------------------------------------------------------------------------

    def _package(self, name_or_arn: str) -> dict[str, Any]:
        key = name_or_arn.lower()
        if not key.startswith("arn:"):
            key = self.ctx.account.arn("model-package", name_or_arn).lower()
        package = self.packages.get(key)
        if package is None:
            raise errors.validation(f"Model Package {name_or_arn} does not exist.")
        return package

    def _package_event(self, package: dict[str, Any]) -> None:
        describe = self._public(package, drop=("Tags", "ClientToken"))
        self.ctx.bus.publish(
            envelope(
                self.ctx.account,
                MODEL_PACKAGE_STATE_CHANGE,
                package["ModelPackageArn"],
                package["LastModifiedTime"],
                model_package_detail(describe),
            )
        )

    def create_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("ClientToken")
        with self.ctx.lock:
            if token and token in self.tokens:
                return {"ModelPackageArn": self.tokens[token]}
            group_name = params.get("ModelPackageGroupName")
            now = self.ctx.wall()
            record: dict[str, Any] = {
                k: copy.deepcopy(v)
                for k, v in params.items()
                if k not in ("ModelPackageGroupName", "ModelPackageName")
            }
            if group_name:
                group = self._group(group_name)
                group["_versions"] += 1
                version = group["_versions"]
                name = group["ModelPackageGroupName"]
                arn = self.ctx.account.arn("model-package", f"{name}/{version}")
                record.update({"ModelPackageGroupName": name, "ModelPackageVersion": version})
                record.setdefault("ModelApprovalStatus", "PendingManualApproval")
                self._put("groups", name.lower(), group)
            else:
                name = params.get("ModelPackageName")
                if not name:
                    raise errors.validation(
                        "CreateModelPackage needs ModelPackageGroupName (versioned) or ModelPackageName"
                    )
                arn = self.ctx.account.arn("model-package", name)
                if arn.lower() in self.packages:
                    raise errors.validation(f"Model Package {arn} already exists.")
            record.update(
                {
                    "ModelPackageName": name,
                    "ModelPackageArn": arn,
                    "CreationTime": now,
                    "LastModifiedTime": now,
                    "ModelPackageStatus": "Completed",
                    "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                    "CertifyForMarketplace": bool(params.get("CertifyForMarketplace", False)),
                    "CreatedBy": CREATED_BY,
                    "Tags": params.get("Tags", []),
                    "_seq": self._next_seq(),
                }
            )
            if token:
                self.tokens[token] = arn
            self._put("packages", arn.lower(), record)
            self._package_event(record)
            self.ctx.changed.notify_all()
        return {"ModelPackageArn": arn}

    def describe_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return self._public(self._package(params["ModelPackageName"]), drop=("Tags", "ClientToken"))

    def update_model_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            package = self._package(params["ModelPackageArn"])
            token = params.get("ClientToken")
            if token and package.get("_update_token") == token:
                return {"ModelPackageArn": package["ModelPackageArn"]}
            before = package.get("ModelApprovalStatus")
            for key in (
                "ModelApprovalStatus",
                "ApprovalDescription",
                "InferenceSpecification",
                "SourceUri",
                "ModelCard",
                "ModelLifeCycle",
            ):
                if key in params:
                    package[key] = copy.deepcopy(params[key])
            metadata = dict(package.get("CustomerMetadataProperties") or {})
            metadata.update(params.get("CustomerMetadataProperties") or {})
            for key in params.get("CustomerMetadataPropertiesToRemove") or []:
                metadata.pop(key, None)
            if metadata or "CustomerMetadataProperties" in package:
                package["CustomerMetadataProperties"] = metadata
            if params.get("AdditionalInferenceSpecificationsToAdd"):
                package.setdefault("AdditionalInferenceSpecifications", []).extend(
                    params["AdditionalInferenceSpecificationsToAdd"]
                )
            package["LastModifiedTime"] = self.ctx.wall()
            package["LastModifiedBy"] = CREATED_BY
            if token:
                package["_update_token"] = token
            self._put("packages", package["ModelPackageArn"].lower(), package)
            if package.get("ModelApprovalStatus") != before:
                self._package_event(package)
            self.ctx.changed.notify_all()
            return {"ModelPackageArn": package["ModelPackageArn"]}

    def list_model_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self.packages.values())
            group = params.get("ModelPackageGroupName")
            kind = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
            if kind == "Versioned":
                items = [p for p in items if "ModelPackageVersion" in p]
            elif kind == "Unversioned":
                items = [p for p in items if "ModelPackageVersion" not in p]
            if group:
                group_name = group.rsplit("/", 1)[-1] if group.startswith("arn:") else group
                items = [p for p in items if p.get("ModelPackageGroupName", "").lower() == group_name.lower()]
            if params.get("ModelApprovalStatus"):
                items = [p for p in items if p.get("ModelApprovalStatus") == params["ModelApprovalStatus"]]
            if params.get("NameContains"):
                items = [p for p in items if params["NameContains"].lower() in p["ModelPackageName"].lower()]
            items = _sorted(
                _time_filters(items, params),
                params,
                {"Name": "ModelPackageName", "CreationTime": "CreationTime"},
                "CreationTime",
            )
            keys = (
                "ModelPackageName",
                "ModelPackageGroupName",
                "ModelPackageVersion",
                "ModelPackageArn",
                "ModelPackageDescription",
                "CreationTime",
                "ModelPackageStatus",
                "ModelApprovalStatus",
                "ModelLifeCycle",
            )
            return paginate(
                items,
                params,
                default_max=10,
                key="ModelPackageSummaryList",
                render=lambda p: {k: copy.deepcopy(p[k]) for k in keys if k in p},
            )

    # -- endpoints -------------------------------------------------------------------------------------------

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
            record = {
                **copy.deepcopy(params),
                "EndpointConfigArn": arn,
                "CreationTime": self.ctx.wall(),
                "_seq": self._next_seq(),
            }
            record["Tags"] = params.get("Tags", [])
            self._put("endpoint_configs", name.lower(), record)
        return {"EndpointConfigArn": arn}

    def _config(self, name: str) -> dict[str, Any]:
        config = self.endpoint_configs.get(name.lower())
        if config is None:
            raise errors.validation(
                f'Could not find endpoint configuration "{self.ctx.account.arn("endpoint-config", name)}".'
            )
        return config

    def _endpoint(self, name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(name.lower())
        if endpoint is None:
            raise errors.validation(f'Could not find endpoint "{self.ctx.account.arn("endpoint", name)}".')
        return endpoint

    @staticmethod
    def _variants(config: dict[str, Any]) -> list[dict[str, Any]]:
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

    def _endpoint_changed(self, endpoint: dict[str, Any]) -> None:
        self.ctx.store.put("endpoints", endpoint["EndpointName"].lower(), endpoint)
        describe = self._public(endpoint, drop=("Tags",))
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
                "_seq": self._next_seq(),
            }
            self.endpoints[name.lower()] = endpoint
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
            return self._public(self._endpoint(params["EndpointName"]), drop=("Tags",))

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

    # -- tags ------------------------------------------------------------------------------------------------

    def tagged(self, arn: str) -> tuple[str, str, dict[str, Any]] | None:
        """(kind, key, record) of the resource with this ARN, if it is one of the registry's."""
        lowered = arn.lower()
        if lowered in self.packages:
            return "packages", lowered, self.packages[lowered]
        for kind, field in (
            ("models", "ModelArn"),
            ("groups", "ModelPackageGroupArn"),
            ("endpoint_configs", "EndpointConfigArn"),
            ("endpoints", "EndpointArn"),
        ):
            for key, record in getattr(self, kind).items():
                if record[field].lower() == lowered:
                    return kind, key, record
        return None

    def save_tags(self, kind: str, key: str, record: dict[str, Any]) -> None:
        self._put(kind, key, record)
