#!/usr/bin/env python3
"""Writes the expected output of the YAML conformance set: tests/fixtures/yaml/NAME.yml ->
NAME.json, as Ansible reads the file.

The oracle is Ansible's own loader (ansible.parsing.yaml.loader.AnsibleLoader: libyaml's
scanner and parser under PyYAML's SafeConstructor with Ansible's additions), not bare
yaml.safe_load: it is what `ansible-playbook` sees. The two give the same values on every file
of the set (this script checks that and says so when they do not); Ansible adds a warning for
duplicate keys and the `!unsafe` / `!vault` tags.

Run it with the ansible-core venv when a fixture changes, and commit the JSON:

    /var/tmp/ansible-venv/bin/python scripts/yaml-oracle.py

To hold the loader to Ansible on content that is not ours (a corpus of roles and playbooks),
write one JSON map of every YAML file under some directories, then let the Rust test compare:

    /var/tmp/ansible-venv/bin/python scripts/yaml-oracle.py --corpus OUT.json DIR...
    YAML_CORPUS=OUT.json cargo test --test yaml_conformance corpus

JSON shape: {"documents": [...]} or {"error": "..."} when Ansible refuses the file; plus
"warnings" (duplicate keys). Values: strings, ints, floats, booleans and null as JSON; mappings
as JSON objects in Ansible's key order (a key that is not a string is written "!int 1",
"!bool true", "!null", "!float 1.5"); a float JSON cannot hold as {"!float": "inf"|"-inf"|"nan"};
an int beyond 64 bits as {"!bigint": "digits"}; a timestamp as {"!timestamp": text as written,
"python": str(value)}; !unsafe as {"!unsafe": value}; !vault as {"!vault": ciphertext}.
"""

import datetime
import json
import math
import pathlib
import sys

import yaml
from ansible._internal._yaml import _constructor
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.utils.unsafe_proxy import AnsibleUnsafe

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "yaml"


class Timestamp:
    def __init__(self, text, value):
        self.text, self.value = text, value


def timestamp(loader, node):
    return Timestamp(node.value, yaml.SafeLoader.construct_yaml_timestamp(loader, node))




def key_text(k):
    if isinstance(k, bool):
        return "!bool " + ("true" if k else "false")
    if k is None:
        return "!null"
    if isinstance(k, int):
        return "!int " + str(k)
    if isinstance(k, float):
        return "!float " + repr(k)
    if isinstance(k, Timestamp):
        return k.text
    return str(k)


def encode(v):
    if isinstance(v, Timestamp):
        return {"!timestamp": v.text, "python": str(v.value)}
    if type(v).__name__ == "EncryptedString":
        return {"!vault": v._ciphertext}
    if isinstance(v, AnsibleUnsafe) and isinstance(v, str):
        return {"!unsafe": str(v)}
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v if -(2**63) <= v < 2**63 else {"!bigint": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"!float": "nan"}
        if math.isinf(v):
            return {"!float": "inf" if v > 0 else "-inf"}
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return {"!timestamp": v.isoformat(), "python": str(v)}
    if isinstance(v, dict):
        return {key_text(k): encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    raise TypeError(f"cannot encode {type(v)}")


def load_ansible(text, warnings):
    from ansible._internal._yaml._loader import AnsibleLoader as Loader

    class L(Loader):
        pass

    L.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    original = _constructor.display.warning
    _constructor.display.warning = lambda msg, **kw: warnings.append(str(msg))
    try:
        loader = L(text)
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    finally:
        _constructor.display.warning = original


def corpus(out_path, dirs):
    out = {}
    for d in dirs:
        for path in sorted(pathlib.Path(d).resolve().rglob("*")):
            if path.suffix not in (".yml", ".yaml") or not path.is_file():
                continue
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
            try:
                out[str(path)] = {"documents": [encode(d) for d in load_ansible(text, [])]}
            except yaml.YAMLError as e:
                out[str(path)] = {"error": " ".join(str(e).split())}
    pathlib.Path(out_path).write_text(json.dumps(out, ensure_ascii=False))
    print(f"{len(out)} files, {sum('error' in v for v in out.values())} refused by Ansible")


def main():
    if sys.argv[1:2] == ["--corpus"]:
        return corpus(sys.argv[2], sys.argv[3:])
    names = sys.argv[1:] or sorted(p.name for p in FIXTURES.glob("*.yml"))
    for name in names:
        path = FIXTURES / name
        text = path.read_bytes().decode("utf-8")
        warnings = []
        try:
            docs = load_ansible(text, warnings)
            out = {"documents": [encode(d) for d in docs]}
        except yaml.YAMLError as e:
            out = {"error": " ".join(str(e).split())}
        try:
            safe = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
            if "documents" in out and [encode_plain(d) for d in safe] != [
                encode_plain(d) for d in docs
            ]:
                print(f"{name}: yaml.CSafeLoader differs from AnsibleLoader", file=sys.stderr)
        except yaml.YAMLError:
            if "documents" in out:
                print(f"{name}: yaml.CSafeLoader refuses what Ansible reads", file=sys.stderr)
        if warnings:
            out["warnings"] = warnings
        path.with_suffix(".json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
        print(f"{path.with_suffix('.json').name}: {'error' if 'error' in out else 'ok'}")


def encode_plain(v):
    """Compares values the way both loaders build them (timestamps as Python values)."""
    if isinstance(v, Timestamp):
        return encode_plain(v.value)
    if isinstance(v, dict):
        return [(encode_plain(k), encode_plain(x)) for k, x in v.items()]
    if isinstance(v, (list, tuple)):
        return [encode_plain(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    for kind in (bool, int, float, str):
        if isinstance(v, kind):
            return (kind.__name__, str(v))
    return (type(v).__name__, str(v))


if __name__ == "__main__":
    main()
