#!/usr/bin/env python3
"""Every field of the TripDeal CRD explains itself: the schema gives each
field a description, naming its default where it has one, and the real
kubectl (`kubectl explain tripdeal.spec...` against fakekube, which serves
the CRD's schema) shows no `<empty>` and no `<no description>` anywhere
under spec and status, spec.chaos and status.lastDrill included."""
import yaml

from harness import CRD, Cluster, log, run

SKIP = set()


def walk(node, path, fields, objects):
    """fields: every field path; objects: paths kubectl explain can list."""
    if path in SKIP:
        return
    if path:
        fields.append((path, node))
    props = node.get("properties") or {}
    items = node.get("items") or {}
    if props or items.get("properties"):
        objects.append(path)
    for key, child in props.items():
        walk(child, f"{path}.{key}" if path else key, fields, objects)
    for key, child in (items.get("properties") or {}).items():
        walk(child, f"{path}.{key}", fields, objects)


def scenario():
    with open(CRD) as f:
        crd = yaml.safe_load(f)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    fields, objects = [], []
    walk(schema, "", fields, objects)
    bad = []
    for path, node in fields:
        description = (node.get("description") or "").strip()
        if not description:
            bad.append(f"{path}: no description")
        elif "default" in node and "default" not in description.lower():
            bad.append(f"{path}: has default {node['default']!r} but its description does not say it")
        if isinstance(node.get("items"), dict) and node["items"].get("properties") and \
                not (node["items"].get("description") or "").strip():
            bad.append(f"{path}[]: no description")
    assert not bad, "CRD fields without a proper description:\n  " + "\n  ".join(bad)
    log(f"{len(fields)} fields described")

    with Cluster() as cluster:
        cluster.install_crd()
        checked = 0
        for path in objects:
            if not path.startswith(("spec", "status")):
                continue
            out = cluster.kubectl("explain", f"tripdeal.{path}").stdout
            head, _, listing = out.partition("\nFIELDS:\n")
            assert "<empty>" not in head and "<no description>" not in head, f"tripdeal.{path}:\n{out}"
            entry = None
            for line in listing.splitlines():
                if line.startswith("  ") and not line.startswith("    ") and line.strip():
                    entry = line.split()[0]
                    continue
                if entry and f"{path}.{entry}" in SKIP:
                    continue
                assert "<no description>" not in line and "<empty>" not in line, \
                    f"kubectl explain tripdeal.{path}: field {entry} has no description:\n{out}"
            checked += 1
        log(f"kubectl explain: {checked} objects, every field described")


if __name__ == "__main__":
    run(scenario)
