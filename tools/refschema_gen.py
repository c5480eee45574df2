#!/usr/bin/python3
"""refschema_gen.py: writes src/config/refschema.c, the reference product's
schema for the types clonelb serves, from the vendor's published swagger files.

Usage: tools/refschema_gen.py SWAGGER_DIR [OUT]

SWAGGER_DIR is the swagger/ folder of a checkout of github.com/vmware/alb-sdk
(VirtualService.json, Pool.json, ...). OUT defaults to src/config/refschema.c.
The build never runs this: the generated file is committed. Run it again when
moving to a newer schema, and review the diff.

What is written, per definition reachable from a served type: every field with
its JSON kind, whether it is a list, its default as JSON text, and its policy
(see refschema.h). Which of them clonelb implements is not written here: that
is decided at run time by src/config/schema.c, so the two can never drift apart.
"""
import json
import os
import re
import sys

# clonelb object type or sub-object (the name of its struct cfg_schema) ->
# (swagger file, definition that describes it in the reference).
MAPPED = [
    ("virtualservice", "VirtualService.json", "VirtualService"),
    ("pool", "Pool.json", "Pool"),
    ("healthmonitor", "HealthMonitor.json", "HealthMonitor"),
    ("sslkeyandcertificate", "SSLKeyAndCertificate.json", "SSLKeyAndCertificate"),
    ("trafficcloneprofile", "TrafficCloneProfile.json", "TrafficCloneProfile"),
    ("vip", "VirtualService.json", "Vip"),
    ("services", "VirtualService.json", "Service"),
    ("performance_limits", "VirtualService.json", "PerformanceLimits"),
    ("servers", "Pool.json", "Server"),
    ("http_monitor", "HealthMonitor.json", "HealthMonitorHttp"),
    ("tcp_monitor", "HealthMonitor.json", "HealthMonitorTcp"),
    ("certificate", "SSLKeyAndCertificate.json", "SSLCertificate"),
    ("clone_servers", "TrafficCloneProfile.json", "CloneServer"),
]

# Handled by the store itself on every object (CFG_META_FIELDS).
META = {"name", "uuid", "tenant_ref", "_last_modified"}

# Accepted with any value of the right kind and stored: they describe an
# object and change nothing about how it behaves. "*": description anywhere,
# markers and configpb_attributes of an object type.
STORED = {
    ("*", "description"),
    ("*", "markers"),
    ("*", "configpb_attributes"),
    # Informational unless resolve_server_by_dns or rewrite_host_header
    # (both refused when true); the reference fills it with the address.
    ("Server", "hostname"),
}

# Fields the reference computes (from the certificate, from the system) that
# its GET returns without marking them readOnly: accepted and dropped on
# input, so a reference GET puts back unchanged.
COMPUTED = {
    ("SSLCertificate", f)
    for f in ("chain_verified", "expiry_status", "fingerprint", "issuer", "key_params",
              "not_after", "not_before", "public_key", "self_signed", "serial_number",
              "signature", "signature_algorithm", "subject", "subject_alt_names", "text",
              "version")
}
COMPUTED |= {("SSLKeyAndCertificate", "created_by")}

# References the schema leaves without a default but the reference fills with a
# system object when unset. The value is the object that describes what
# clonelb does (a TCP proxy on the one cloud, VRF and SE group it has): a
# reference to that object is the default, any other is refused.
REF_DEFAULTS = {
    "cloud_ref": "Default-Cloud",
    "vrf_context_ref": "global",
    "se_group_ref": "Default-Group",
    "network_profile_ref": "System-TCP-Proxy",
    "application_profile_ref": "System-L4-Application",
}

# The schema lists the values of an enum in the field's description.
ENUMS = re.compile(r"Enum options - ([A-Z0-9_]+(?:, [A-Z0-9_]+)*)")

KINDS = {"boolean": "CFG_REF_BOOL", "integer": "CFG_REF_INT", "number": "CFG_REF_NUM",
         "string": "CFG_REF_STR"}


def load(swagger_dir, fname):
    with open(os.path.join(swagger_dir, fname)) as f:
        doc = json.load(f)
    return doc["info"]["version"], doc["definitions"]


def ref_name(p):
    r = p.get("$ref") or p.get("items", {}).get("$ref")
    return r.split("/")[-1] if r else None


def c_str(s):
    return json.dumps(s)


def field_line(defname, fname, p, roots):
    sub = ref_name(p)
    is_list = p.get("type") == "array"
    item = p.get("items", {}) if is_list else p
    if sub:
        kind = "CFG_REF_OBJ"
    else:
        kind = KINDS.get(item.get("type"), "CFG_REF_STR")
    flags = []
    if is_list:
        flags.append("CFG_REF_LIST")
    if p.get("readOnly") or (defname, fname) in COMPUTED:
        flags.append("CFG_REF_READONLY")
    elif (defname, fname) in STORED or ("*", fname) in STORED and (
            fname == "description" or defname in roots):
        flags.append("CFG_REF_STORED")
    dflt = None
    if "default" in p:
        dflt = json.dumps(p["default"])
    elif fname in REF_DEFAULTS and kind == "CFG_REF_STR" and not is_list:
        dflt = json.dumps(REF_DEFAULTS[fname])
        flags.append("CFG_REF_ISREF")
    elif kind == "CFG_REF_BOOL" and not is_list:
        dflt = "false"  # a bool the schema gives no default is false when unset
    line = "\t{%s, %s, %s, %s, %s" % (
        c_str(fname), kind, " | ".join(flags) or "0",
        c_str(dflt) if dflt is not None else "NULL",
        "&d_" + sub if sub else "NULL")
    m = ENUMS.search(p.get("description", "")) if kind == "CFG_REF_STR" else None
    if m:
        line += ",\n\t " + c_str(",".join(e.strip() for e in m.group(1).split(",")))
    return line + "},"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    swagger_dir = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "src", "config", "refschema.c")
    defs, origin, version = {}, {}, None
    roots = {d for _, _, d in MAPPED[:5]}  # the object types; the rest are sub-objects
    for _, fname, dname in MAPPED:
        version, alld = load(swagger_dir, fname)
        stack = [dname]
        while stack:
            k = stack.pop()
            if k in defs:
                if defs[k] != alld[k]:
                    print("warning: %s differs between %s and %s" % (k, origin[k], fname),
                          file=sys.stderr)
                continue
            defs[k], origin[k] = alld[k], fname
            for p in alld[k].get("properties", {}).values():
                r = ref_name(p)
                if r:
                    stack.append(r)
    lines = [
        "/* refschema.c: the reference product's schema for the types clonelb serves, "
        "as data (generated, do not edit). */",
        "/*",
        " * Generated by tools/refschema_gen.py from the swagger files of",
        " * github.com/vmware/alb-sdk (API version %s). Every field of every" % version,
        " * definition reachable from a served type, with its default; which fields",
        " * clonelb implements is schema.c's, decided at run time. See refschema.h.",
        " */",
        '#include "config/refschema.h"',
        "",
        "#define NF(a) (sizeof(a) / sizeof((a)[0]))",
        "",
    ]
    names = sorted(defs)
    for k in names:
        lines.append("static const struct cfg_ref_def d_%s;" % k)
    lines.append("")
    for k in names:
        props = defs[k].get("properties", {})
        body = [field_line(k, f, p, roots) for f, p in sorted(props.items())
                if not (k in roots and f in META)]
        if body:
            lines.append("static const struct cfg_ref_field f_%s[] = {" % k)
            lines.extend(body)
            lines.append("};")
            lines.append("static const struct cfg_ref_def d_%s = {%s, f_%s, NF(f_%s)};"
                         % (k, c_str(k), k, k))
        else:
            lines.append("static const struct cfg_ref_def d_%s = {%s, NULL, 0};" % (k, c_str(k)))
        lines.append("")
    lines.append("const struct cfg_ref_map cfg_ref_maps[] = {")
    for n, _, d in MAPPED:
        lines.append("\t{%s, &d_%s}," % (c_str(n), d))
    lines.append("\t{NULL, NULL},")
    lines.append("};")
    lines.append("")
    lines.append("const char cfg_ref_version[] = %s;" % c_str(version))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%s: %d definitions, %d fields, API version %s" % (
        out, len(defs), sum(len(d.get("properties", {})) for d in defs.values()), version))


if __name__ == "__main__":
    main()
