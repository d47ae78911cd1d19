"""The model registry: model package groups and versioned (or unversioned) packages, with SageMaker's semantics:

- a versioned package's version is the group's last version + 1; its ARN is
  .../model-package/<group>/<version>;
- CreateModelPackage with a ClientToken already used returns the package created with it;
- a package is created Completed, PendingManualApproval unless ModelApprovalStatus says otherwise; creation
  and every change of ModelApprovalStatus send "SageMaker Model Package State Change".
Missing resources are ValidationException, as SageMaker reports them for these calls.
"""

from __future__ import annotations

import copy
from typing import Any

from retune_local import errors
from retune_local.context import Context
from retune_local.events import MODEL_PACKAGE_STATE_CHANGE, envelope, model_package_detail
from retune_local.records import CREATED_BY, Record, Records, created_between, public, sort
from retune_local.shapes import paginate

# What ListModelPackages shows of a package.
_SUMMARY_KEYS = (
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


def _name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


class ModelRegistry:
    def __init__(self, ctx: Context, records: Records) -> None:
        self.ctx = ctx
        self.records = records
        self.groups = records.kinds["groups"]
        self.packages = records.kinds["packages"]  # by lowercased ARN
        self.tokens: dict[str, str] = {}  # ClientToken -> package ARN

    def load(self) -> None:
        """After the records have loaded: the ClientTokens already used."""
        for package in self.packages.values():
            if package.get("ClientToken"):
                self.tokens[package["ClientToken"]] = package["ModelPackageArn"]

    # -- model package groups --------------------------------------------------------------------------------

    def create_group(self, params: dict[str, Any]) -> dict[str, Any]:
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
                "_seq": self.records.next_seq(),
            }
            if params.get("ModelPackageGroupDescription"):
                record["ModelPackageGroupDescription"] = params["ModelPackageGroupDescription"]
            self.records.put("groups", name.lower(), record)
        return {"ModelPackageGroupArn": arn}

    def _group(self, name_or_arn: str) -> Record:
        group = self.groups.get(_name(name_or_arn).lower())
        if group is None:
            raise errors.validation(f"ModelPackageGroup {name_or_arn} does not exist.")
        return group

    def describe_group(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return public(self._group(params["ModelPackageGroupName"]), drop=("Tags",))

    def list_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self.groups.values())
            if params.get("NameContains"):
                items = [
                    g for g in items if params["NameContains"].lower() in g["ModelPackageGroupName"].lower()
                ]
            items = sort(
                created_between(items, params),
                params,
                {"Name": "ModelPackageGroupName", "CreationTime": "CreationTime"},
                "CreationTime",
            )
            return paginate(
                items,
                params,
                default_max=10,
                key="ModelPackageGroupSummaryList",
                render=lambda g: public(g, drop=("Tags", "CreatedBy")),
            )

    # -- model packages --------------------------------------------------------------------------------------

    def package(self, name_or_arn: str) -> Record:
        key = name_or_arn.lower()
        if not key.startswith("arn:"):
            key = self.ctx.account.arn("model-package", name_or_arn).lower()
        package = self.packages.get(key)
        if package is None:
            raise errors.validation(f"Model Package {name_or_arn} does not exist.")
        return package

    def _package_event(self, package: Record) -> None:
        describe = public(package, drop=("Tags", "ClientToken"))
        self.ctx.bus.publish(
            envelope(
                self.ctx.account,
                MODEL_PACKAGE_STATE_CHANGE,
                package["ModelPackageArn"],
                package["LastModifiedTime"],
                model_package_detail(describe),
            )
        )

    def create_package(self, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("ClientToken")
        with self.ctx.lock:
            if token and token in self.tokens:
                return {"ModelPackageArn": self.tokens[token]}
            group_name = params.get("ModelPackageGroupName")
            now = self.ctx.wall()
            record: Record = {
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
                self.records.put("groups", name.lower(), group)
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
                    "_seq": self.records.next_seq(),
                }
            )
            if token:
                self.tokens[token] = arn
            self.records.put("packages", arn.lower(), record)
            self._package_event(record)
            self.ctx.changed.notify_all()
        return {"ModelPackageArn": arn}

    def describe_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return public(self.package(params["ModelPackageName"]), drop=("Tags", "ClientToken"))

    def update_package(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            package = self.package(params["ModelPackageArn"])
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
            self.records.put("packages", package["ModelPackageArn"].lower(), package)
            if package.get("ModelApprovalStatus") != before:
                self._package_event(package)
            self.ctx.changed.notify_all()
            return {"ModelPackageArn": package["ModelPackageArn"]}

    def list_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self.packages.values())
            group = params.get("ModelPackageGroupName")
            kind = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
            if kind == "Versioned":
                items = [p for p in items if "ModelPackageVersion" in p]
            elif kind == "Unversioned":
                items = [p for p in items if "ModelPackageVersion" not in p]
            if group:
                group_name = _name(group)
                items = [p for p in items if p.get("ModelPackageGroupName", "").lower() == group_name.lower()]
            if params.get("ModelApprovalStatus"):
                items = [p for p in items if p.get("ModelApprovalStatus") == params["ModelApprovalStatus"]]
            if params.get("NameContains"):
                items = [p for p in items if params["NameContains"].lower() in p["ModelPackageName"].lower()]
            items = sort(
                created_between(items, params),
                params,
                {"Name": "ModelPackageName", "CreationTime": "CreationTime"},
                "CreationTime",
            )
            return paginate(
                items,
                params,
                default_max=10,
                key="ModelPackageSummaryList",
                render=lambda p: {k: copy.deepcopy(p[k]) for k in _SUMMARY_KEYS if k in p},
            )
