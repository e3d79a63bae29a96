"""Load a CloudFormation/SAM template and evaluate its intrinsic functions offline.

Enough of CloudFormation for the tests: parameters (defaults, AllowedPattern,
AllowedValues, MinValue/MaxValue), pseudo parameters, conditions, Ref, Fn::Sub,
Fn::Join, Fn::Split, Fn::Select, Fn::If, Fn::Equals/Not/And/Or, Fn::GetAtt,
Fn::GetAZs and AWS::NoValue. Resources and attributes that only exist after
deployment resolve to stable tokens ("ref:Name", "getatt:Name.Attr").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NOVALUE = _NoValue()


def load(path: str | Path) -> dict:
    """Parse a template (YAML with short tags like !Ref, or JSON) with cfn-lint's decoder."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches:
        raise ValueError(f"{path}: " + "; ".join(str(m) for m in matches))
    # The decoder returns dict/str subclasses that carry line marks; make them plain.
    return json.loads(json.dumps(template))


class ParameterError(ValueError):
    pass


class Stack:
    """A template with concrete parameter values."""

    def __init__(
        self,
        template: dict,
        params: dict[str, Any] | None = None,
        *,
        region: str = "us-east-1",
        account: str = "123456789012",
        stack_name: str = "spillover-test",
    ) -> None:
        self.template = template
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/0",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self.region = region
        self.params = self._bind(params or {})
        self._conditions: dict[str, bool] = {}

    # ---- parameters -------------------------------------------------------------------
    def _bind(self, given: dict[str, Any]) -> dict[str, Any]:
        declared = self.template.get("Parameters", {})
        unknown = set(given) - set(declared)
        if unknown:
            raise ParameterError(f"unknown parameters: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                raw = str(given[name])
            elif "Default" in spec:
                raw = str(spec["Default"])
            else:
                raise ParameterError(f"parameter {name} has no value and no default")
            check_parameter(name, spec, raw)
            if spec.get("Type") == "CommaDelimitedList":
                values[name] = raw.split(",")
            else:
                values[name] = raw
        return values

    # ---- conditions --------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            expr = self.template.get("Conditions", {})[name]
            self._conditions[name] = bool(self.resolve(expr))
        return self._conditions[name]

    # ---- intrinsic functions ----------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            out = [self.resolve(item) for item in node]
            return [item for item in out if item is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            fn = _FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        out = {}
        for key, value in node.items():
            value = self.resolve(value)
            if value is not NOVALUE:
                out[key] = value
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.template.get("Resources", {}):
            return f"ref:{name}"
        raise KeyError(f"Ref to unknown name {name!r}")

    def sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}

        def replace(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and inner.split(".", 1)[0] in self.template.get("Resources", {}):
                logical, attr = inner.split(".", 1)
                return f"getatt:{logical}.{attr}"
            value = self.ref(inner)
            if isinstance(value, list):
                raise ValueError(f"Fn::Sub of list-valued {inner}")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # ---- views ---------------------------------------------------------------------------
    def resources(self) -> dict[str, dict]:
        """Resources whose Condition holds, with every intrinsic function resolved."""
        out = {}
        for name, resource in self.template.get("Resources", {}).items():
            cond = resource.get("Condition")
            if cond is not None and not self.condition(cond):
                continue
            out[name] = self.resolve(resource)
        return out

    def of_type(self, type_name: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources().items() if v.get("Type") == type_name}


def _fn_if(stack: Stack, arg: list) -> Any:
    cond, yes, no = arg
    return stack.resolve(yes if stack.condition(cond) else no)


def _fn_select(stack: Stack, arg: list) -> Any:
    index, items = int(stack.resolve(arg[0])), stack.resolve(arg[1])
    if not 0 <= index < len(items):
        raise IndexError(f"Fn::Select index {index} out of range for {items!r}")
    return items[index]


def _fn_getatt(stack: Stack, arg: Any) -> str:
    logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
    if logical not in stack.template.get("Resources", {}):
        raise KeyError(f"GetAtt of unknown resource {logical!r}")
    return f"getatt:{logical}.{attr}"


_FUNCTIONS = {
    "Ref": lambda s, a: s.ref(a),
    "Condition": lambda s, a: s.condition(a),
    "Fn::Sub": lambda s, a: s.sub(a),
    "Fn::Join": lambda s, a: a[0].join(str(x) for x in s.resolve(a[1])),
    "Fn::Split": lambda s, a: s.resolve(a[1]).split(a[0]),
    "Fn::Select": _fn_select,
    "Fn::If": _fn_if,
    "Fn::Equals": lambda s, a: str(s.resolve(a[0])) == str(s.resolve(a[1])),
    "Fn::Not": lambda s, a: not s.resolve(a[0]),
    "Fn::And": lambda s, a: all(s.resolve(x) for x in a),
    "Fn::Or": lambda s, a: any(s.resolve(x) for x in a),
    "Fn::GetAtt": _fn_getatt,
    "Fn::GetAZs": lambda s, a: [f"{s.region}{z}" for z in "abc"],
    "Fn::Base64": lambda s, a: s.resolve(a),
    "Fn::ImportValue": lambda s, a: f"import:{s.resolve(a)}",
}


def check_parameter(name: str, spec: dict, raw: str) -> None:
    """Apply a parameter's declared constraints the way CloudFormation does."""
    kind = spec.get("Type", "String")
    if "AllowedValues" in spec and raw not in [str(v) for v in spec["AllowedValues"]]:
        raise ParameterError(f"{name}={raw!r} not in AllowedValues {spec['AllowedValues']}")
    if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], raw) is None:
        raise ParameterError(f"{name}={raw!r} does not match AllowedPattern {spec['AllowedPattern']!r}")
    if kind == "Number":
        try:
            number = float(raw)
        except ValueError:
            raise ParameterError(f"{name}={raw!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ParameterError(f"{name}={raw} below MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ParameterError(f"{name}={raw} above MaxValue {spec['MaxValue']}")


def check_rules(stack: Stack) -> list[str]:
    """Evaluate the template's Rules section; returns the failed assertions' descriptions."""
    failed = []
    for rule in stack.template.get("Rules", {}).values():
        if "RuleCondition" in rule and not stack.resolve(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions", []):
            if not stack.resolve(assertion["Assert"]):
                failed.append(assertion.get("AssertDescription", "rule assertion failed"))
    return failed
