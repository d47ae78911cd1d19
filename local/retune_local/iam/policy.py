"""AWS IAM policy evaluation for one request within one account, as the IAM User Guide documents it.

Parse each policy once (`Policy.parse`), then `evaluate` a request (action, resource ARN, condition context) for a
caller against its identity-based policies and, where the resource has one, the resource's policy. Sources:
"Policy evaluation logic", "IAM JSON policy elements reference", "Condition operators", "Single-valued vs.
multivalued context keys", "Policy variables" and "Troubleshooting access denied error messages".

Modelled:
- An explicit Deny in any identity policy, or in the resource policy for a principal that names the caller (its
  session or user ARN, its role ARN, its account, its service, or "*"), denies. Otherwise an Allow in an identity
  policy allows, and so does an Allow in the resource policy whose principal names the caller directly; one naming
  only the caller's account delegates to the identity policies and grants nothing by itself. Otherwise: implicit
  deny.
- KMS key policies (`key_policy=True`) must allow access themselves: directly, or through a statement allowing the
  caller's account the action, which lets identity policies grant it. Role trust policies follow the same rule.
- Every policy element; `*`/`?` wildcards in actions (case-insensitive) and in each of an ARN's six components
  (case-sensitive); all condition operators, `...IfExists`, `ForAllValues:`/`ForAnyValue:`; policy variables in
  Resource and in String, Arn and Bool condition values (Version 2012-10-17 only), with defaults and the `${*}`,
  `${?}`, `${$}` escapes. A malformed or unknown element is a `PolicyError`, never a silent true or false.

Not modelled: cross-account requests, SCPs and RCPs, permissions boundaries, session policies, VPC endpoint
policies, ACLs, the account root user (AWS allows it everything), anonymous callers, Federated and CanonicalUser
principals (parsed; they never match a caller). Nor which context keys a service sets or which actions have
resource-level permissions: whoever builds the `Request` decides those.

Where the guide is silent this module takes the stricter reading, said where it is done: a multivalued request
key under an operator without a set qualifier does not match; an unresolvable policy variable fails its value's
test whatever the operator; NotPrincipal excludes a caller from a Deny only when it lists every identity the
caller acts as (account, role, session), and from an Allow when it lists any of them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, NamedTuple

__all__ = [
    "Caller",
    "Decision",
    "Policy",
    "PolicyError",
    "Request",
    "Statement",
    "denial_message",
    "evaluate",
]

Kind = Literal["identity", "resource"]
Reach = Literal["direct", "account"]
ContextValue = str | tuple[str, ...]
Context = dict[str, ContextValue]
VERSIONS = ("2012-10-17", "2008-10-17")
_POLICY_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    (
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
    )
)


class PolicyError(ValueError):
    """A malformed or unsupported policy; names the policy, the statement (Sid or #index) and the element."""

    def __init__(self, policy: str, statement: str | None, element: str, problem: str) -> None:
        where = policy if statement is None else f"{policy} statement {statement}"
        super().__init__(f"{where}: {element}: {problem}")
        self.policy = policy
        self.statement = statement
        self.element = element
        self.problem = problem


class _Invalid(ValueError):
    """A bad value deep in an element; the statement parser adds the policy, statement and element."""


class Caller(NamedTuple):
    arn: str  # a role session, an IAM user or role ARN, or a service principal ("sagemaker.amazonaws.com")
    account: str  # "" for a service principal
    role_arn: str | None = None  # an assumed-role session's role ARN


class Request(NamedTuple):
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for an action without resource-level permissions
    context: Mapping[str, str | Sequence[str]]  # key (any case) -> value, or values for a multivalued key


# --- strings: literal text, wildcards and policy variables --------------------------------------------------

_LITERAL, _ANY, _ONE, _VARIABLE = range(4)
_VARIABLE_SYNTAX = re.compile(r"\$\{([^}]*)\}")
_WILDCARD = re.compile(r"([*?])")
_ROOT_ARN = re.compile(r"arn:[^:]+:iam::(\d{12}):root")


class _Token(NamedTuple):
    kind: int
    text: str  # the literal text, or a variable's context key in lower case
    default: str | None = None


def _tokens(text: str, *, variables: bool, wildcards: bool) -> tuple[_Token, ...]:
    out: list[_Token] = []

    def literal(chunk: str) -> None:
        split = wildcards and ("*" in chunk or "?" in chunk)
        for piece in _WILDCARD.split(chunk) if split else [chunk]:
            if split and piece in ("*", "?"):
                out.append(_Token(_ANY if piece == "*" else _ONE, piece))
            elif piece:
                out.append(_Token(_LITERAL, piece))

    position = 0
    for match in _VARIABLE_SYNTAX.finditer(text) if variables else ():
        literal(text[position : match.start()])
        inner = match.group(1)
        if inner in ("*", "?", "$"):  # the escapes for characters that otherwise have a meaning
            out.append(_Token(_LITERAL, inner))
        else:
            name, comma, default = inner.partition(",")
            default = default.strip()
            if not name.strip() or (comma and not (len(default) >= 2 and default[0] == default[-1] == "'")):
                raise _Invalid(
                    f"malformed policy variable ${{{inner}}}: write ${{key}} or ${{key, 'default'}}"
                )
            out.append(_Token(_VARIABLE, name.strip().lower(), default[1:-1] if comma else None))
        position = match.end()
    literal(text[position:])
    return tuple(out)


def _source(tokens: Sequence[_Token], arn: bool) -> str:
    """A regex for the tokens. ARN-aware: a wildcard in one of the first five components stays within it."""
    parts: list[str] = []
    component = 0
    for token in tokens:
        if token.kind == _LITERAL:
            pieces = token.text.split(":") if arn else [token.text]
            for i, piece in enumerate(pieces):
                if i:
                    parts.append(":")
                    component += 1
                parts.append(re.escape(piece))
        else:
            bounded = arn and component < 5
            parts.append(
                ("[^:]*" if bounded else ".*") if token.kind == _ANY else ("[^:]" if bounded else ".")
            )
    return "".join(parts)


@lru_cache(maxsize=8192)
def _compile(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _resolve(token: _Token, context: Context) -> str | None:
    value = context.get(token.text)
    if isinstance(value, str):
        return value
    return token.default  # absent, or multivalued (which cannot be a variable): the default if any


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A policy string compiled once; with variables, its regex is built per request (and cached)."""

    text: str
    tokens: tuple[_Token, ...]
    arn: bool
    ignore_case: bool
    fixed: re.Pattern[str] | None

    @classmethod
    def of(
        cls, text: str, *, variables: bool, wildcards: bool, arn: bool = False, ignore: bool = False
    ) -> _Pattern:
        tokens = _tokens(text, variables=variables, wildcards=wildcards)
        dynamic = any(t.kind == _VARIABLE for t in tokens)
        return cls(text, tokens, arn, ignore, None if dynamic else _compile(_source(tokens, arn), ignore))

    @property
    def colons(self) -> int:
        return sum(t.text.count(":") for t in self.tokens if t.kind == _LITERAL)

    @property
    def dynamic(self) -> bool:
        return self.fixed is None

    def matches(self, value: str, context: Context) -> bool | None:
        """Whether the value matches; None when a variable has no value (the value then matches nothing)."""
        regex = self.fixed
        if regex is None:
            resolved: list[_Token] = []
            for token in self.tokens:
                text = _resolve(token, context) if token.kind == _VARIABLE else token.text
                if text is None:
                    return None
                resolved.append(_Token(_LITERAL, text) if token.kind == _VARIABLE else token)
            regex = _compile(_source(resolved, self.arn), self.ignore_case)
        return regex.fullmatch(value) is not None


def _arn_pattern(text: str, variables: bool) -> _Pattern:
    pattern = _Pattern.of(text, variables=variables, wildcards=True, arn=True)
    if pattern.colons < 5 and not pattern.dynamic:
        raise _Invalid(f"{text!r} is not an ARN (arn:partition:service:region:account:resource)")
    return pattern


def _resource_pattern(text: str, variables: bool) -> _Pattern:
    if text == "*":
        return _Pattern.of(text, variables=False, wildcards=True)
    # AWS's own managed policies put variables before the fifth colon too (arn:*:kms:*:${aws:PrincipalAccount}:...).
    return _arn_pattern(text, variables)


# --- condition operators ----------------------------------------------------------------------------------


class _Operator(NamedTuple):
    negated: bool  # a negated operator's values are NORed: the request value must match none of them
    # (policy value, whether variables apply) -> the compiled value; raises _Invalid
    compile: Callable[[str, bool], Any]
    test: Callable[[str, Any, Context], bool | None]  # does a request value match one policy value


def _pattern_test(value: str, pattern: _Pattern, context: Context) -> bool | None:
    return pattern.matches(value, context)


def _string(like: bool, ignore_case: bool) -> Callable[[str, bool], Any]:
    return lambda text, variables: _Pattern.of(text, variables=variables, wildcards=like, ignore=ignore_case)


def _bool_value(text: str, variables: bool) -> _Pattern:
    pattern = _Pattern.of(text, variables=variables, wildcards=False, ignore=True)
    if not pattern.dynamic and text.lower() not in ("true", "false"):
        raise _Invalid(f'Bool takes "true" or "false", not {text!r}')
    return pattern


def _bool_test(value: str, pattern: _Pattern, context: Context) -> bool | None:
    return pattern.matches(value, context) if value.lower() in ("true", "false") else None


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(text: str) -> datetime | None:
    """ISO 8601 (the W3C profiles: YYYY, YYYY-MM, YYYY-MM-DD, with time and zone) or epoch seconds."""
    text = text.strip()
    partial = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text)
    try:
        if partial:
            moment = datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
        elif re.fullmatch(r"-?\d+", text):
            moment = datetime.fromtimestamp(int(text), UTC)
        else:
            moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parsed(parse: Callable[[str], Any], what: str) -> Callable[[str, bool], Any]:
    def compile_value(text: str, variables: bool) -> Any:
        value = parse(text)
        if value is None:
            raise _Invalid(f"{text!r} is not {what}")
        return value

    return compile_value


def _compared(parse: Callable[[str], Any], compare: Callable[[Any, Any], bool]) -> Callable[..., bool | None]:
    def test(value: str, policy_value: Any, context: Context) -> bool | None:
        # None: the request value is not a number (date...), so it vouches for neither a match nor a difference
        request_value = parse(value)
        return None if request_value is None else compare(request_value, policy_value)

    return test


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)  # a bare address is a /32 or /128
    except ValueError:
        return None


def _in_network(value: str, network: Any, context: Context) -> bool | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return address in network


def _operators() -> dict[str, _Operator]:
    table: dict[str, _Operator] = {}
    for name, like, ignore in (("", False, False), ("IgnoreCase", False, True)):
        table[f"StringEquals{name}"] = _Operator(False, _string(like, ignore), _pattern_test)
        table[f"StringNotEquals{name}"] = _Operator(True, _string(like, ignore), _pattern_test)
    table["StringLike"] = _Operator(False, _string(True, False), _pattern_test)
    table["StringNotLike"] = _Operator(True, _string(True, False), _pattern_test)
    comparisons = {
        "Equals": operator.eq,
        "LessThan": operator.lt,
        "LessThanEquals": operator.le,
        "GreaterThan": operator.gt,
        "GreaterThanEquals": operator.ge,
    }
    for family, parse, what in (
        ("Numeric", _number, "a number"),
        ("Date", _date, "an ISO 8601 date or epoch"),
    ):
        for suffix, compare in comparisons.items():
            table[family + suffix] = _Operator(False, _parsed(parse, what), _compared(parse, compare))
        table[family + "NotEquals"] = _Operator(True, _parsed(parse, what), _compared(parse, operator.eq))
    table["Bool"] = _Operator(False, _bool_value, _bool_test)
    table["BinaryEquals"] = _Operator(False, _parsed(_binary, "base-64"), _compared(_binary, operator.eq))
    table["IpAddress"] = _Operator(False, _parsed(_network, "an IP address or CIDR range"), _in_network)
    table["NotIpAddress"] = _Operator(True, _parsed(_network, "an IP address or CIDR range"), _in_network)
    arn = _Operator(False, _arn_pattern, _pattern_test)
    table["ArnEquals"] = table["ArnLike"] = arn  # documented to behave identically
    table["ArnNotEquals"] = table["ArnNotLike"] = arn._replace(negated=True)
    return table


_OPERATORS = _operators()
_QUALIFIERS: dict[str, Literal["all", "any"]] = {"ForAllValues": "all", "ForAnyValue": "any"}


@dataclass(frozen=True, slots=True)
class _Condition:
    """One condition key under one operator; a statement's conditions are ANDed."""

    operator: str  # as written, for messages
    base: _Operator | None  # None: Null
    qualifier: Literal["all", "any"] | None
    if_exists: bool
    # Lower case: key names are case-insensitive, the tag-key part of aws:ResourceTag/<key> included.
    key: str
    values: tuple[Any, ...]

    def _value_matches(self, value: str, context: Context) -> bool:
        base = self.base
        assert base is not None
        if base.negated:  # NOR; a value whose variable has no value cannot vouch for "differs"
            return all(base.test(value, v, context) is False for v in self.values)
        return any(base.test(value, v, context) for v in self.values)

    def holds(self, context: Context) -> bool:
        value = context.get(self.key)
        if self.base is None:  # Null: true tests that the key is absent (an empty set counts as absent)
            absent = value is None or value == ()
            return absent in self.values
        if value is None:
            if self.qualifier == "all" or self.if_exists:
                return True
            # ForAnyValue needs a value to match; a plain negated operator holds for an absent key
            return self.qualifier is None and self.base.negated
        if self.qualifier is None:
            # The guide requires a set operator for a multivalued key and is silent on the result without one:
            # the stricter reading, no match.
            return isinstance(value, str) and self._value_matches(value, context)
        values = (value,) if isinstance(value, str) else value
        if self.qualifier == "all":
            return all(self._value_matches(v, context) for v in values)
        return any(self._value_matches(v, context) for v in values)


def _scalars(raw: Any, what: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float | str):
            out.append(str(item))
        else:
            raise _Invalid(f"{what} must be a string or a list of strings, not {item!r}")
    if not out:
        raise _Invalid(f"{what} is an empty list")
    return tuple(out)


def _conditions(raw: Any, variables: bool) -> tuple[_Condition, ...]:
    """One condition for every key under every operator."""
    if not isinstance(raw, Mapping):
        raise _Invalid("must be an object of operators")
    out: list[_Condition] = []
    for name, keys in raw.items():
        prefix, colon, base_name = str(name).rpartition(":")
        qualifier = _QUALIFIERS.get(prefix) if colon else None
        if colon and qualifier is None:
            raise _Invalid(f"unknown qualifier {prefix!r} in {name!r} (ForAllValues or ForAnyValue)")
        if not isinstance(keys, Mapping) or not keys:
            raise _Invalid(f"{name} must be an object of condition keys")
        if_exists = base_name.endswith("IfExists") and base_name != "IfExists"
        core = base_name.removesuffix("IfExists") if if_exists else base_name
        if core == "Null" and (if_exists or qualifier):
            raise _Invalid(f"{name}: Null takes neither IfExists nor a set qualifier")
        if core != "Null" and core not in _OPERATORS:
            raise _Invalid(f"unknown condition operator {name!r}")
        base = _OPERATORS.get(core)
        for key, raw_values in keys.items():
            texts = _scalars(raw_values, f"{name} {key}")
            if base is None:
                if any(t.lower() not in ("true", "false") for t in texts):
                    raise _Invalid(f'Null {key} takes "true" or "false", not {list(texts)}')
                values: tuple[Any, ...] = tuple(t.lower() == "true" for t in texts)
            else:
                values = tuple(base.compile(t, variables) for t in texts)
            out.append(_Condition(str(name), base, qualifier, if_exists, str(key).lower(), values))
    return tuple(out)


# --- principals -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Principals:
    everyone: bool
    accounts: frozenset[str]
    arns: frozenset[str]  # users, roles, sessions (and unique ids, which never match a caller here)
    services: frozenset[str]

    def reach(self, caller: Caller) -> Reach | None:
        if self.everyone:
            return "direct"
        if not caller.arn.startswith("arn:"):
            return "direct" if caller.arn in self.services else None
        if caller.arn in self.arns or (caller.role_arn is not None and caller.role_arn in self.arns):
            return "direct"
        return "account" if caller.account in self.accounts else None

    def listed(self, caller: Caller) -> list[bool]:
        """For each identity the caller acts as (service; or account, role, session/user), whether it is named."""
        if not caller.arn.startswith("arn:"):
            return [self.everyone or caller.arn in self.services]
        arns = [a for a in (caller.role_arn, caller.arn) if a is not None]
        return [
            self.everyone or caller.account in self.accounts,
            *(self.everyone or a in self.arns for a in arns),
        ]


def _principals(raw: Any) -> _Principals:
    if raw == "*":
        return _Principals(True, frozenset(), frozenset(), frozenset())
    if not isinstance(raw, Mapping) or not raw:
        raise _Invalid('must be "*" or an object of principal types (AWS, Service, Federated, CanonicalUser)')
    everyone, accounts, arns, services = False, set[str](), set[str](), set[str]()
    for kind, values in raw.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise _Invalid(f"unknown principal type {kind!r}")
        for value in _scalars(values, str(kind)):
            if kind == "AWS" and value == "*":
                everyone = True  # documented as equivalent to "Principal": "*"
                continue
            if "*" in value:
                raise _Invalid(f"{value!r}: a wildcard cannot match part of a principal")
            root = _ROOT_ARN.fullmatch(value)
            if kind == "AWS" and (root or re.fullmatch(r"\d{12}", value)):
                accounts.add(root[1] if root else value)
            elif kind == "AWS":
                arns.add(value)
            elif kind == "Service":
                services.add(value)
    return _Principals(everyone, frozenset(accounts), frozenset(arns), frozenset(services))


# --- statements and policies ------------------------------------------------------------------------------


class _Actions(NamedTuple):
    """Action names match case-insensitively: exact names by set lookup, wildcard patterns by one regex."""

    exact: frozenset[str]
    patterns: re.Pattern[str] | None

    @classmethod
    def of(cls, values: tuple[str, ...]) -> _Actions:
        for value in values:
            if value != "*" and not re.fullmatch(r"[^:\s]+:[^:\s]+", value):
                raise _Invalid(f"{value!r} is not an action (service:Action, wildcards allowed, or *)")
        lowered = {v.lower() for v in values}
        globs = sorted(v for v in lowered if "*" in v or "?" in v)
        sources = [_source(_tokens(v, variables=False, wildcards=True), arn=False) for v in globs]
        return cls(
            frozenset(lowered.difference(globs)), _compile("|".join(sources), False) if globs else None
        )

    def match(self, action: str) -> bool:
        action = action.lower()
        return action in self.exact or (
            self.patterns is not None and self.patterns.fullmatch(action) is not None
        )


@dataclass(frozen=True, eq=False, slots=True)
class Statement:
    """One parsed statement; equal only to itself, so `Policy.without` removes exactly one."""

    policy: str
    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    _actions: _Actions
    _not_action: bool
    _resources: tuple[_Pattern, ...] | None  # None: no Resource element (a resource policy's own resource)
    _not_resource: bool
    _principals: _Principals | None  # None in identity policies
    _not_principal: bool
    _conditions: tuple[_Condition, ...]

    @property
    def label(self) -> str:
        return f"{self.policy}/{self.sid}" if self.sid else f"{self.policy}#{self.index}"

    def __repr__(self) -> str:
        return f"<Statement {self.label} {self.effect}>"

    def _applies(self, action: str, resource: str, context: Context) -> bool:
        """Whether the action, resource and conditions match (the principal is `_reach`'s business)."""
        if self._actions.match(action) == self._not_action:
            return False
        if self._resources is not None:
            hit = any(p.matches(resource, context) for p in self._resources)
            if hit == self._not_resource:
                return False
        return all(c.holds(context) for c in self._conditions)

    def _reach(self, caller: Caller) -> Reach | None:
        """How a resource-policy statement's principal names the caller: directly, through its account, or not."""
        principals = self._principals
        if principals is None:
            return "direct"
        if not self._not_principal:
            return principals.reach(caller)
        listed = principals.listed(caller)
        excluded = all(listed) if self.effect == "Deny" else any(listed)
        return None if excluded else "direct"


def _strings(raw: Any, element: str) -> tuple[str, ...]:
    values = _scalars(raw, element)
    if not all(isinstance(v, str) for v in (raw if isinstance(raw, list) else [raw])):
        raise _Invalid(f"{element} must be a string or a list of strings")
    return values


def _statement(raw: Any, policy: str, index: int, kind: Kind, variables: bool) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyError(policy, f"#{index}", "Statement", "each statement must be an object")
    sid = raw.get("Sid")
    where = sid if isinstance(sid, str) and sid else f"#{index}"

    def fail(element: str, problem: str) -> PolicyError:
        return PolicyError(policy, where, element, problem)

    for element in raw:
        if element not in _STATEMENT_ELEMENTS:
            raise fail(str(element), "not a statement element")
    if sid is not None and not isinstance(sid, str):
        raise fail("Sid", "must be a string")
    effect = raw.get("Effect")
    if effect is None:
        raise fail("Effect", 'missing: every statement needs "Effect": "Allow" or "Deny"')
    if effect not in ("Allow", "Deny"):
        raise fail("Effect", f'must be "Allow" or "Deny", not {effect!r}')

    def one_of(positive: str, negative: str, required: bool) -> tuple[str, Any] | None:
        present = [e for e in (positive, negative) if e in raw]
        if len(present) == 2:
            raise fail(f"{positive}/{negative}", f"a statement has {positive} or {negative}, not both")
        if not present and required:
            raise fail(positive, f"missing: the statement needs {positive} or {negative}")
        return (present[0], raw[present[0]]) if present else None

    element = "Action"
    try:
        action = one_of("Action", "NotAction", required=True)
        assert action is not None
        element = action[0]
        actions = _Actions.of(_strings(action[1], element))
        resource = one_of("Resource", "NotResource", required=kind == "identity")
        resources = None
        if resource is not None:
            element = resource[0]
            resources = tuple(_resource_pattern(r, variables) for r in _strings(resource[1], element))
        principal = one_of("Principal", "NotPrincipal", required=kind == "resource")
        if principal is not None and kind == "identity":
            raise fail(
                principal[0], "identity-based policies name no principal: the identity is the principal"
            )
        principals = None
        if principal is not None:
            element = principal[0]
            principals = _principals(principal[1])
        conditions: tuple[_Condition, ...] = ()
        if "Condition" in raw:
            element = "Condition"
            conditions = _conditions(raw["Condition"], variables)
    except _Invalid as error:
        raise fail(element, str(error)) from None
    return Statement(
        policy,
        index,
        sid if sid else None,
        effect,
        actions,
        action[0] == "NotAction",
        resources,
        resource is not None and resource[0] == "NotResource",
        principals,
        principal is not None and principal[0] == "NotPrincipal",
        conditions,
    )


@dataclass(frozen=True, eq=False)
class Policy:
    """A parsed policy: identity-based (no Principal; Resource required) or resource-based (Principal required)."""

    name: str
    statements: tuple[Statement, ...]
    kind: Kind = "identity"
    version: str | None = None

    @classmethod
    def parse(cls, document: Mapping[str, Any] | str, name: str, *, kind: Kind = "identity") -> Policy:
        if kind not in ("identity", "resource"):
            raise ValueError(f"kind is 'identity' or 'resource', not {kind!r}")
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as error:
                raise PolicyError(name, None, "document", f"not JSON: {error}") from None
        if not isinstance(document, Mapping):
            raise PolicyError(name, None, "document", "a policy is a JSON object")
        for element in document:
            if element not in _POLICY_ELEMENTS:
                raise PolicyError(name, None, str(element), "not a policy element (Version, Id, Statement)")
        version = document.get("Version")
        if version is not None and version not in VERSIONS:
            raise PolicyError(name, None, "Version", f"must be one of {VERSIONS} or absent, not {version!r}")
        if "Id" in document and not isinstance(document["Id"], str):
            raise PolicyError(name, None, "Id", "must be a string")
        raw = document.get("Statement")
        statements = [raw] if isinstance(raw, Mapping) else raw
        if not isinstance(statements, list) or not statements:
            raise PolicyError(
                name, None, "Statement", "missing: a policy needs a statement or a list of them"
            )
        variables = version == "2012-10-17"  # earlier versions take ${...} literally
        return cls(
            name,
            tuple(_statement(s, name, i, kind, variables) for i, s in enumerate(statements)),
            kind,
            version,
        )

    def without(self, statement: Statement) -> Policy:
        """The same policy minus one statement (the others keep their index and label)."""
        if not any(s is statement for s in self.statements):
            raise ValueError(f"{statement.label} is not a statement of {self.name}")
        kept = tuple(s for s in self.statements if s is not statement)
        return Policy(self.name, kept, self.kind, self.version)


# --- evaluation -------------------------------------------------------------------------------------------


class Decision(NamedTuple):
    allowed: bool
    kind: Literal["allowed", "explicit_deny", "implicit_deny"]
    deciding: Statement | None  # the explicit deny, or one allowing statement
    # every statement that allowed the request (identity and resource policies)
    allowing: tuple[Statement, ...]
    # where an explicit deny came from, or (implicit) which policy type was missing
    denied_by: Literal["identity", "resource", "key", None]


def evaluate(
    caller: Caller,
    request: Request,
    identity_policies: Sequence[Policy],
    resource_policy: Policy | None = None,
    *,
    key_policy: bool = False,
) -> Decision:
    """AWS's decision for one request within one account (see the module docstring for what is modelled)."""
    if key_policy and resource_policy is None:
        raise ValueError("key_policy=True needs the key's policy as resource_policy")
    context: Context = {
        key.lower(): value if isinstance(value, str) else tuple(value)
        for key, value in request.context.items()
    }
    action, resource = request.action, request.resource
    identity: list[Statement] = []
    for policy in identity_policies:
        if policy.kind != "identity":
            raise ValueError(f"{policy.name} is a resource-based policy, passed as an identity policy")
        for statement in policy.statements:
            if statement._applies(action, resource, context):
                if statement.effect == "Deny":
                    return Decision(False, "explicit_deny", statement, (), "identity")
                identity.append(statement)
    direct: list[Statement] = []
    delegating: list[Statement] = []
    if resource_policy is not None:
        if resource_policy.kind != "resource":
            raise ValueError(
                f"{resource_policy.name} is an identity-based policy, passed as a resource policy"
            )
        for statement in resource_policy.statements:
            reach = statement._reach(caller)
            if reach is None or not statement._applies(action, resource, context):
                continue
            if statement.effect == "Deny":  # a Deny naming the account covers its principals
                return Decision(False, "explicit_deny", statement, (), "key" if key_policy else "resource")
            (direct if reach == "direct" else delegating).append(statement)
    if key_policy:
        enabled = delegating + identity if delegating and identity else []
        allowing = direct + enabled
        if not allowing:
            return Decision(False, "implicit_deny", None, (), "identity" if delegating else "key")
        return Decision(True, "allowed", allowing[0], tuple(allowing), None)
    allowing = identity + direct
    if not allowing:
        return Decision(False, "implicit_deny", None, (), "identity")
    return Decision(True, "allowed", allowing[0], tuple(allowing), None)


def denial_message(caller: Caller, request: Request, decision: Decision) -> str:
    """AWS's access-denied message ("Troubleshooting access denied error messages" in the IAM User Guide)."""
    if decision.allowed:
        raise ValueError("the request was allowed: there is no denial to describe")
    on = "" if request.resource == "*" else f" on resource: {request.resource}"  # AWS omits it for "*"
    head = f"User: {caller.arn} is not authorized to perform: {request.action}{on}"
    identity = decision.denied_by == "identity"
    if decision.kind == "explicit_deny":
        return f"{head} with an explicit deny in {'an identity' if identity else 'a resource'}-based policy"
    return f"{head} because no {'identity' if identity else 'resource'}-based policy allows the {request.action} action"
