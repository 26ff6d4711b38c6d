//! The KIngress hash: what a hash probe with `K-Network-Hash: override` carries to the
//! backend, and what Knative's ingress prober and conformance suite expect back.
//!
//! Knative networking's `ingress.ComputeHash` is the SHA-256 of the spec as Go's
//! `encoding/json` marshals it (`v1alpha1.IngressSpec`: struct field order, `omitempty`
//! fields left out when empty, map keys sorted, HTML-escaped strings), followed by the
//! object's namespace and then its name. [`spec_json`] writes those bytes from our
//! typed spec, field by field, so that the hash is Knative's whatever serde does with
//! the CRD types.
//!
//! Two places where our types cannot tell what Go's could, decided here: a `paths` or
//! `splits` list that is empty is written `[]` (Go writes `null` for one that was absent
//! and `[]` for one written empty; the API server keeps either, and Knative's own
//! reconcilers always write them non-empty), and the TLS entries, which knserve keeps as
//! written, contribute only the three fields Go's `IngressTLS` has.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crd::{
    Ingress,
    networking::{HttpIngressPath, IngressBackendSplit, IngressRule, IngressSpec},
};

/// `hex(sha256(spec_json(spec) + namespace + name))`, as Knative's `InsertProbe`
/// writes it into `K-Network-Hash`.
pub fn ingress_hash(ingress: &Ingress) -> String {
    let mut hasher = Sha256::new();
    hasher.update(spec_json(&ingress.spec));
    hasher.update(ingress.metadata.namespace.as_deref().unwrap_or_default());
    hasher.update(ingress.metadata.name.as_deref().unwrap_or_default());
    hasher.finalize().iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The spec as Go's `json.Marshal(ing.Spec)` writes it.
pub fn spec_json(spec: &IngressSpec) -> String {
    let mut out = Object::new();
    if !spec.tls.is_empty() {
        out.key("tls");
        array(&mut out.0, &spec.tls, tls);
    }
    if !spec.rules.is_empty() {
        out.key("rules");
        array(&mut out.0, &spec.rules, rule);
    }
    out.string_unless_empty("httpOption", &spec.http_option);
    out.end()
}

/// A JSON object under construction: `{` written, a comma before each key but the first.
struct Object(String, bool);

impl Object {
    fn new() -> Self {
        Self("{".to_owned(), false)
    }

    fn key(&mut self, key: &str) {
        if self.1 {
            self.0.push(',');
        }
        self.1 = true;
        string(&mut self.0, key);
        self.0.push(':');
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        string(&mut self.0, value);
    }

    fn string_unless_empty(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.string(key, value);
        }
    }

    fn strings_unless_empty(&mut self, key: &str, values: &[String]) {
        if !values.is_empty() {
            self.key(key);
            array(&mut self.0, values, |out, s| string(out, s));
        }
    }

    fn map_unless_empty<V>(
        &mut self,
        key: &str,
        map: &BTreeMap<String, V>,
        mut value: impl FnMut(&mut String, &V),
    ) {
        if map.is_empty() {
            return;
        }
        self.key(key);
        self.0.push('{');
        for (i, (k, v)) in map.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            string(&mut self.0, k);
            self.0.push(':');
            value(&mut self.0, v);
        }
        self.0.push('}');
    }

    fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn array<T>(out: &mut String, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, value) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, value);
    }
    out.push(']');
}

/// `IngressTLS`: hosts, secretName, secretNamespace, each `omitempty`.
fn tls(out: &mut String, entry: &Value) {
    let mut object = Object::new();
    let hosts: Vec<String> = entry
        .get("hosts")
        .and_then(Value::as_array)
        .map(|hosts| {
            hosts
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    object.strings_unless_empty("hosts", &hosts);
    for key in ["secretName", "secretNamespace"] {
        object.string_unless_empty(key, entry.get(key).and_then(Value::as_str).unwrap_or(""));
    }
    out.push_str(&object.end());
}

/// `IngressRule`: hosts, visibility, http, each `omitempty`.
fn rule(out: &mut String, rule: &IngressRule) {
    let mut object = Object::new();
    object.strings_unless_empty("hosts", &rule.hosts);
    object.string_unless_empty("visibility", &rule.visibility);
    if let Some(http) = &rule.http {
        object.key("http");
        let mut value = Object::new();
        value.key("paths");
        array(&mut value.0, &http.paths, path);
        object.0.push_str(&value.end());
    }
    out.push_str(&object.end());
}

/// `HTTPIngressPath`: path, rewriteHost, headers (`omitempty`), splits, appendHeaders
/// (`omitempty`).
fn path(out: &mut String, path: &HttpIngressPath) {
    let mut object = Object::new();
    object.string_unless_empty("path", path.path.as_deref().unwrap_or(""));
    object.string_unless_empty("rewriteHost", path.rewrite_host.as_deref().unwrap_or(""));
    object.map_unless_empty("headers", &path.headers, |out, matched| {
        let mut value = Object::new();
        value.string("exact", &matched.exact);
        out.push_str(&value.end());
    });
    object.key("splits");
    array(&mut object.0, &path.splits, split);
    object.map_unless_empty("appendHeaders", &path.append_headers, |out, v| {
        string(out, v);
    });
    out.push_str(&object.end());
}

/// `IngressBackendSplit`: the embedded `IngressBackend` first (serviceNamespace,
/// serviceName, servicePort), then percent and appendHeaders (`omitempty`).
fn split(out: &mut String, split: &IngressBackendSplit) {
    let mut object = Object::new();
    object.string("serviceNamespace", &split.service_namespace);
    object.string("serviceName", &split.service_name);
    object.key("servicePort");
    match &split.service_port {
        IntOrString::Int(port) => {
            let _ = write!(object.0, "{port}");
        }
        IntOrString::String(name) => string(&mut object.0, name),
    }
    if split.percent != 0 {
        object.key("percent");
        let _ = write!(object.0, "{}", split.percent);
    }
    object.map_unless_empty("appendHeaders", &split.append_headers, |out, v| {
        string(out, v);
    });
    out.push_str(&object.end());
}

/// A string as Go's `encoding/json` writes it with HTML escaping on (`json.Marshal`):
/// `\"` `\\`, `\b` `\f` `\n` `\r` `\t`, other control bytes and `<` `>` `&` as
/// `\u00xx` (lowercase hex), U+2028 and U+2029 as `\u2028` `\u2029`.
fn string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ingress_hash, spec_json};
    use crate::crd::Ingress;

    /// Each case's hash and spec JSON as Knative networking's own `ingress.ComputeHash`
    /// and `json.Marshal(ing.Spec)` gave them (a Go program over the module at the
    /// version serving v0.50.0 pins, run on these objects).
    fn check(object: serde_json::Value, hash: &str, json: &str) {
        let ingress: Ingress = serde_json::from_value(object).unwrap();
        assert_eq!(spec_json(&ingress.spec), json);
        assert_eq!(ingress_hash(&ingress), hash);
    }

    #[test]
    fn the_conformance_suites_probe_ingress_hashes_as_knative() {
        check(
            serde_json::from_str(r#"{"apiVersion": "networking.internal.knative.dev/v1alpha1", "kind": "Ingress", "metadata": {"name": "ingress-probe-abc", "namespace": "serving-tests"}, "spec": {"rules": [{"hosts": ["ingress-probe-abc.example.com"], "visibility": "ExternalIP", "http": {"paths": [{"splits": [{"serviceName": "ingress-probe-abc", "serviceNamespace": "serving-tests", "servicePort": 80}]}]}}]}}"#).unwrap(),
            "cfc48576fcc4a8b035d1e6fa9f1bdd9257f31c164b6548908885602dae5a0ce3",
            r#"{"rules":[{"hosts":["ingress-probe-abc.example.com"],"visibility":"ExternalIP","http":{"paths":[{"splits":[{"serviceNamespace":"serving-tests","serviceName":"ingress-probe-abc","servicePort":80}]}]}}]}"#,
        );
    }

    #[test]
    fn every_field_escaping_and_map_order_hash_as_knative() {
        check(
            serde_json::from_str(r#"{"apiVersion": "networking.internal.knative.dev/v1alpha1", "kind": "Ingress", "metadata": {"name": "hello", "namespace": "default"}, "spec": {"tls": [{"hosts": ["a.example.com", "b.example.com"], "secretName": "s", "secretNamespace": "ns"}, {"secretName": "only"}], "rules": [{"hosts": ["hello.default.example.com"], "visibility": "ExternalIP", "http": {"paths": [{"path": "/api", "rewriteHost": "x.example.com", "headers": {"Knative-Serving-Tag": {"exact": "v1"}, "A-First": {"exact": "x<y>&z"}}, "splits": [{"serviceName": "r1", "serviceNamespace": "default", "servicePort": "http", "percent": 70, "appendHeaders": {"Z": "1", "K-Tab": "a\tb\u0001c d\"e\\f\bg\fh"}}, {"serviceName": "r2", "serviceNamespace": "default", "servicePort": 81, "percent": 30}], "appendHeaders": {"Knative-Serving-Default-Route": "true"}}, {"splits": [{"serviceName": "r3", "serviceNamespace": "default", "servicePort": 80, "percent": 0}]}]}}, {"hosts": ["hello.default", "hello.default.svc", "hello.default.svc.cluster.local"], "visibility": "ClusterLocal", "http": {"paths": [{"splits": [{"serviceName": "r1", "serviceNamespace": "default", "servicePort": 80, "percent": 100}]}]}}, {"hosts": ["é.example.com"]}], "httpOption": "Redirected"}}"#).unwrap(),
            "c1ee1e9b6de2af900c05d845bbfb663c2aedd5fec05254242d34853a1fb8d5a9",
            r#"{"tls":[{"hosts":["a.example.com","b.example.com"],"secretName":"s","secretNamespace":"ns"},{"secretName":"only"}],"rules":[{"hosts":["hello.default.example.com"],"visibility":"ExternalIP","http":{"paths":[{"path":"/api","rewriteHost":"x.example.com","headers":{"A-First":{"exact":"x\u003cy\u003e\u0026z"},"Knative-Serving-Tag":{"exact":"v1"}},"splits":[{"serviceNamespace":"default","serviceName":"r1","servicePort":"http","percent":70,"appendHeaders":{"K-Tab":"a\tb\u0001c\u2028d\"e\\f\bg\fh","Z":"1"}},{"serviceNamespace":"default","serviceName":"r2","servicePort":81,"percent":30}],"appendHeaders":{"Knative-Serving-Default-Route":"true"}},{"splits":[{"serviceNamespace":"default","serviceName":"r3","servicePort":80}]}]}},{"hosts":["hello.default","hello.default.svc","hello.default.svc.cluster.local"],"visibility":"ClusterLocal","http":{"paths":[{"splits":[{"serviceNamespace":"default","serviceName":"r1","servicePort":80,"percent":100}]}]}},{"hosts":["é.example.com"]}],"httpOption":"Redirected"}"#,
        );
    }

    #[test]
    fn an_object_without_rules_is_an_empty_spec() {
        let ingress: Ingress = serde_json::from_value(json!({
            "apiVersion": "networking.internal.knative.dev/v1alpha1",
            "kind": "Ingress",
            "metadata": { "name": "n", "namespace": "ns" },
            "spec": {},
        }))
        .unwrap();
        assert_eq!(spec_json(&ingress.spec), "{}");
    }
}
