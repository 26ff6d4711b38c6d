//! The decode step against what sigs.k8s.io/yaml and sigs.k8s.io/json do. The expected
//! JSON of the scalar table is the output of `sigs.k8s.io/yaml.YAMLToJSONStrict` v1.6.0
//! on `v: <text>`.

use serde_json::{Value, json};

use super::scalar::float_key;
use super::*;
use crate::api::Resource;

/// `v: <text>` through [`yaml_to_json`]: the JSON of `v`, or the error.
fn scalar(text: &str) -> Result<Value, ParseProblem> {
    let doc = yaml_to_json(&format!("v: {text}"))?.expect("a document");
    Ok(doc.value["v"].clone())
}

#[test]
fn plain_scalars_resolve_as_goyaml_v2_resolves_them() {
    let table: &[(&str, Value)] = &[
        ("yes", json!(true)),
        ("Yes", json!(true)),
        ("YES", json!(true)),
        ("yEs", json!("yEs")),
        ("y", json!(true)),
        ("Y", json!(true)),
        ("n", json!(false)),
        ("N", json!(false)),
        ("no", json!(false)),
        ("on", json!(true)),
        ("On", json!(true)),
        ("ON", json!(true)),
        ("oN", json!("oN")),
        ("off", json!(false)),
        ("Off", json!(false)),
        ("true", json!(true)),
        ("True", json!(true)),
        ("TRUE", json!(true)),
        ("tRue", json!("tRue")),
        ("false", json!(false)),
        ("null", json!(null)),
        ("Null", json!(null)),
        ("NULL", json!(null)),
        ("~", json!(null)),
        ("", json!(null)),
        ("010", json!(8)),
        ("08", json!(8)),
        ("09", json!(9)),
        ("0x1F", json!(31)),
        ("0X1F", json!(31)),
        ("0o17", json!(15)),
        ("0O17", json!(15)),
        ("0b101", json!(5)),
        ("0B101", json!(5)),
        ("-0b101", json!(-5)),
        ("+0x10", json!(16)),
        ("-0x10", json!(-16)),
        ("1_000", json!(1000)),
        ("1__0", json!(10)),
        ("_1", json!("_1")),
        ("1_", json!(1)),
        ("0x1_F", json!(31)),
        ("1e2", json!(100)),
        ("1E2", json!(100)),
        ("1e+2", json!(100)),
        ("100.0", json!(100)),
        ("1.5", json!(1.5)),
        (".5", json!(0.5)),
        (".5_0", json!(0.5)),
        ("._5", json!("._5")),
        ("1.", json!(1)),
        ("-1.5", json!(-1.5)),
        ("+1", json!(1)),
        ("+", json!("+")),
        (".", json!(".")),
        ("1e400", json!("1e400")),
        ("1e-400", json!(0)),
        ("9223372036854775807", json!(9_223_372_036_854_775_807_i64)),
        ("9223372036854775808", json!(9_223_372_036_854_775_808_u64)),
        ("18446744073709551615", json!(u64::MAX)),
        ("18446744073709551616", json!(18_446_744_073_709_551_616.0)),
        ("-9223372036854775808", json!(i64::MIN)),
        ("1e21", json!(1e21)),
        ("2001-12-14", json!("2001-12-14")),
        (
            "2001-12-14T21:59:43.10-05:00",
            json!("2001-12-14T21:59:43.10-05:00"),
        ),
        ("1:20", json!("1:20")),
        ("0.1", json!(0.1)),
        ("1_000.5", json!(1000.5)),
        ("0", json!(0)),
        ("-0", json!(0)),
        ("00", json!(0)),
        ("0.0", json!(0)),
        ("1e-7", json!(1e-7)),
        ("inf", json!("inf")),
        ("nan", json!("nan")),
        ("0x", json!("0x")),
        ("0b", json!("0b")),
        ("0o", json!("0o")),
        ("1e2_0", json!(100_000_000_000_000_000_000.0)),
    ];
    for (text, want) in table {
        assert_eq!(&scalar(text).unwrap(), want, "plain scalar {text:?}");
    }
}

#[test]
fn quoted_and_block_scalars_are_strings_and_tags_are_honoured() {
    let table: &[(&str, Value)] = &[
        ("\"12\"", json!("12")),
        ("'yes'", json!("yes")),
        ("\"010\"", json!("010")),
        ("|\n  on\n", json!("on\n")),
        ("!!str 12", json!("12")),
        ("!!int \"12\"", json!(12)),
        ("!!float 1", json!(1)),
        ("!!bool yes", json!(true)),
        ("!foo 12", json!("12")),
        ("!!binary aGVsbG8=", json!("hello")),
    ];
    for (text, want) in table {
        assert_eq!(&scalar(text).unwrap(), want, "scalar {text:?}");
    }
    assert_eq!(
        scalar("!!timestamp 2001-12-14").unwrap(),
        json!("2001-12-14")
    );
    for bad in ["!!int abc", "!!null x", "!!timestamp foo"] {
        let err = scalar(bad).unwrap_err();
        assert!(
            matches!(err, ParseProblem::Yaml(ref m) if m.contains("cannot decode")),
            "{bad}: {err}"
        );
    }
}

#[test]
fn infinities_and_nan_have_no_json_form() {
    for text in [".inf", "-.Inf", "+.INF", ".nan", ".NaN"] {
        let err = scalar(text).unwrap_err();
        assert!(
            matches!(&err, ParseProblem::Field { path, .. } if path == "v"),
            "{text}: {err}"
        );
    }
}

#[test]
fn keys_become_strings_as_sigs_k8s_io_yaml_writes_them() {
    let doc = yaml_to_json("on: 1\n1: a\n0x10: b\n1.5: c\n1e6: d\n\"yes\": e\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        doc.value,
        json!({"true": 1, "1": "a", "16": "b", "1.5": "c", "1e+06": "d", "yes": "e"})
    );
    for bad in ["~: a\n", "[a]: b\n", "18446744073709551615: x\n"] {
        let err = yaml_to_json(bad).unwrap_err();
        assert!(matches!(err, ParseProblem::Yaml(_)), "{bad:?}: {err}");
    }
}

#[test]
fn float_keys_use_go_g_format_of_a_float32() {
    for (f, want) in [
        (1.5, "1.5"),
        (100.0, "100"),
        (123_456.0, "123456"),
        (1e6, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (123_456_789.0, "1.2345679e+08"),
        (-2.5, "-2.5"),
        (f64::INFINITY, ".inf"),
    ] {
        assert_eq!(float_key(f), want, "{f}");
    }
}

#[test]
fn a_duplicate_key_is_refused_with_its_path_and_line() {
    let err = yaml_to_json("a:\n  b: 1\n  c: 2\n  b: 3\n").unwrap_err();
    assert_eq!(
        err,
        ParseProblem::DuplicateKey {
            path: "a.b".into(),
            line: 4
        }
    );
    // Keys are compared as resolved values: `yes` and `true` are the same key.
    let err = yaml_to_json("yes: 1\ntrue: 2\n").unwrap_err();
    assert!(
        matches!(err, ParseProblem::DuplicateKey { line: 2, .. }),
        "{err}"
    );
    let err = yaml_to_json("1: a\n0x1: b\n").unwrap_err();
    assert!(matches!(err, ParseProblem::DuplicateKey { .. }), "{err}");
    // A string and a number of the same text are different keys to goyaml.v2.
    assert!(yaml_to_json("\"1\": a\n1: b\n").is_ok());
}

#[test]
fn anchors_aliases_and_merge_keys_expand() {
    let doc = yaml_to_json(
        "base: &base {a: 1, b: 2}\nother: &other {c: 3}\nx:\n  <<: *base\n  d: 4\nxs:\n  <<: [*base, *other]\nz: *base\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(doc.value["x"], json!({"a": 1, "b": 2, "d": 4}));
    assert_eq!(doc.value["xs"], json!({"a": 1, "b": 2, "c": 3}));
    assert_eq!(doc.value["z"], json!({"a": 1, "b": 2}));
    // `y` is a YAML 1.1 boolean, as a key too.
    let doc = yaml_to_json("y: 1\n").unwrap().unwrap();
    assert_eq!(doc.value, json!({"true": 1}));
    // A quoted `<<` is an ordinary key.
    let doc = yaml_to_json("\"<<\": 1\n").unwrap().unwrap();
    assert_eq!(doc.value, json!({"<<": 1}));
}

#[test]
fn overriding_a_merged_key_is_a_duplicate_in_strict_mode() {
    let err = yaml_to_json("base: &b {a: 1}\nx:\n  <<: *b\n  a: 2\n").unwrap_err();
    assert_eq!(
        err,
        ParseProblem::DuplicateKey {
            path: "x.a".into(),
            line: 4
        }
    );
    let err = yaml_to_json("x:\n  <<: [1]\n").unwrap_err();
    assert!(
        matches!(err, ParseProblem::Yaml(ref m) if m.contains("map merge")),
        "{err}"
    );
}

#[test]
fn exponential_aliases_are_refused_not_expanded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = yaml_to_json(&text).unwrap_err();
    assert_eq!(
        err,
        ParseProblem::Yaml("document contains excessive aliasing".into())
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 5), "]".repeat(MAX_DEPTH + 5));
    let err = yaml_to_json(&format!("v: {deep}\n")).unwrap_err();
    assert!(
        matches!(err, ParseProblem::Yaml(ref m) if m.contains("nesting")),
        "{err}"
    );
    let fine = format!("{}{}", "[".repeat(50), "]".repeat(50));
    assert!(yaml_to_json(&format!("v: {fine}\n")).is_ok());
}

#[test]
fn empty_documents_have_no_value() {
    assert_eq!(yaml_to_json("").unwrap(), None);
    assert_eq!(yaml_to_json("# only a comment\n").unwrap(), None);
}

const SERVICE: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations:
    autoscaling.knative.dev/min-scale: \"1\"
spec:
  template:
    spec:
      containerConcurrency: 10
      containers:
      - image: example.com/hello
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /ready
        resources:
          limits:
            cpu: 500m
  traffic:
  - latestRevision: true
    percent: 100
";

/// `SERVICE` with `old` replaced by `new`, through [`parse_yaml`].
fn parse_edited(old: &str, new: &str) -> Result<Vec<Resource>, ParseError> {
    assert!(SERVICE.contains(old), "{old:?} is in the sample");
    parse_yaml(&SERVICE.replacen(old, new, 1))
}

/// The paths of the problems of an edit that must fail.
fn refused_paths(old: &str, new: &str) -> Vec<String> {
    let err = parse_edited(old, new).expect_err("the edit is refused");
    err.problems()
        .map(|p| p.path().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn the_sample_parses() {
    let resources = parse_yaml(SERVICE).expect("the sample parses");
    let Resource::Service(svc) = &resources[0] else {
        panic!("a Service");
    };
    let container = &svc.spec.template.spec.containers[0];
    assert_eq!(container.resources.limits["cpu"].0, "500m");
}

#[test]
fn unknown_fields_are_refused_at_every_depth_with_their_paths() {
    let table = [
        (
            "      containerConcurrency: 10\n",
            "      containerconcurrency: 10\n",
            "spec.template.spec.containerconcurrency",
        ),
        (
            "    percent: 100\n",
            "    weight: 100\n",
            "spec.traffic[0].weight",
        ),
        (
            "      - image: example.com/hello\n",
            "      - image: example.com/hello\n        imagee: x\n",
            "spec.template.spec.containers[0].imagee",
        ),
        (
            "            path: /ready\n",
            "            path: /ready\n            prot: 80\n",
            "spec.template.spec.containers[0].readinessProbe.httpGet.prot",
        ),
        (
            "  name: hello\n",
            "  name: hello\n  nme: x\n",
            "metadata.nme",
        ),
        ("kind: Service\n", "kind: Service\nextra: 1\n", "extra"),
        (
            "  template:\n",
            "  template:\n    metadata:\n      labelz: {}\n",
            "spec.template.metadata.labelz",
        ),
    ];
    for (old, new, path) in table {
        assert_eq!(refused_paths(old, new), [path], "{new:?}");
    }
}

#[test]
fn field_names_are_case_sensitive() {
    assert_eq!(
        refused_paths(
            "      containerConcurrency: 10\n",
            "      ContainerConcurrency: 10\n"
        ),
        ["spec.template.spec.ContainerConcurrency"]
    );
}

#[test]
fn an_unknown_field_names_its_line() {
    let err = parse_edited("    percent: 100\n", "    weight: 100\n").unwrap_err();
    assert_eq!(
        err.problem,
        ParseProblem::UnknownField {
            path: "spec.traffic[0].weight".into(),
            line: 23
        }
    );
    assert!(
        err.to_string()
            .ends_with("spec.traffic[0].weight: unknown field (line 23)"),
        "{err}"
    );
}

#[test]
fn the_pod_spec_has_kubernetes_1_35_fields_not_1_36_ones() {
    // Knative v0.50 pins k8s.io/api v0.35: PodSpec.hostnameOverride is there,
    // schedulingGroup (new in 1.36, which k8s-openapi's v1_36 has) is not.
    let concurrency = "      containerConcurrency: 10\n";
    parse_edited(
        concurrency,
        &format!("{concurrency}      hostnameOverride: x\n"),
    )
    .expect("a 1.35 field is known");
    assert_eq!(
        refused_paths(
            concurrency,
            &format!("{concurrency}      schedulingGroup: {{}}\n")
        ),
        ["spec.template.spec.schedulingGroup"]
    );
}

#[test]
fn yaml_1_1_numbers_and_booleans_decode_into_typed_fields() {
    for (old, new) in [
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: 012\n",
        ),
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: 0x0A\n",
        ),
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: 1e1\n",
        ),
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: 10.0\n",
        ),
        ("  - latestRevision: true\n", "  - latestRevision: yes\n"),
        ("  - latestRevision: true\n", "  - latestRevision: On\n"),
        ("    percent: 100\n", "    percent: 1_00\n"),
    ] {
        let resources = parse_edited(old, new).unwrap_or_else(|e| panic!("{new:?}: {e}"));
        let Resource::Service(svc) = &resources[0] else {
            panic!("a Service");
        };
        assert_eq!(
            svc.spec.template.spec.container_concurrency,
            Some(10),
            "{new:?}"
        );
        assert_eq!(svc.spec.traffic[0].latest_revision, Some(true), "{new:?}");
        assert_eq!(svc.spec.traffic[0].percent, Some(100), "{new:?}");
    }
}

#[test]
fn values_of_the_wrong_type_are_refused_with_their_paths() {
    let table = [
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: 1.5\n",
            "spec.template.spec.containerConcurrency",
        ),
        (
            "      containerConcurrency: 10\n",
            "      containerConcurrency: \"10\"\n",
            "spec.template.spec.containerConcurrency",
        ),
        (
            "        - containerPort: 8080\n",
            "        - containerPort: 3000000000\n",
            "spec.template.spec.containers[0].ports[0].containerPort",
        ),
        (
            "    autoscaling.knative.dev/min-scale: \"1\"\n",
            "    autoscaling.knative.dev/min-scale: 1\n",
            "metadata.annotations.autoscaling.knative.dev/min-scale",
        ),
        (
            "    autoscaling.knative.dev/min-scale: \"1\"\n",
            "    autoscaling.knative.dev/min-scale: yes\n",
            "metadata.annotations.autoscaling.knative.dev/min-scale",
        ),
        (
            "      - image: example.com/hello\n",
            "      - image: 1\n",
            "spec.template.spec.containers[0].image",
        ),
        ("  traffic:\n", "  traffic: {}\n  x:\n", "spec.traffic"),
    ];
    for (old, new, path) in table {
        assert_eq!(refused_paths(old, new), [path], "{new:?}");
    }
}

#[test]
fn a_type_error_hides_the_unknown_fields_as_in_go() {
    let text = SERVICE
        .replacen("    percent: 100\n", "    weight: 100\n", 1)
        .replacen(
            "      - image: example.com/hello\n",
            "      - image: 1\n",
            1,
        );
    let err = parse_yaml(&text).unwrap_err();
    assert_eq!(err.problems().count(), 1, "{err}");
    assert_eq!(
        err.problem.path(),
        Some("spec.template.spec.containers[0].image")
    );
}

#[test]
fn nulls_decode_as_unset() {
    let resources = parse_edited(
        "      containerConcurrency: 10\n",
        "      containerConcurrency: ~\n      timeoutSeconds:\n      volumes: [null]\n",
    )
    .expect("null is accepted anywhere");
    let Resource::Service(svc) = &resources[0] else {
        panic!("a Service");
    };
    assert_eq!(svc.spec.template.spec.container_concurrency, None);
    assert_eq!(svc.spec.template.spec.volumes.len(), 1);
}

#[test]
fn quantities_are_parsed_with_kubernetes_grammar() {
    for good in ["1", "0.5", "\"250m\"", "1e3", "128Mi", "'2'"] {
        parse_edited(
            "            cpu: 500m\n",
            &format!("            cpu: {good}\n"),
        )
        .unwrap_or_else(|e| panic!("cpu: {good}: {e}"));
    }
    for bad in ["abc", "1K", "\"1 Gi\"", "true", "[1]"] {
        let paths = refused_paths(
            "            cpu: 500m\n",
            &format!("            cpu: {bad}\n"),
        );
        assert_eq!(
            paths,
            ["spec.template.spec.containers[0].resources.limits.cpu"],
            "cpu: {bad}"
        );
    }
}

#[test]
fn a_quantity_error_says_why() {
    let err = parse_edited("            cpu: 500m\n", "            cpu: abc\n").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("spec.template.spec.containers[0].resources.limits.cpu: invalid quantity")
            && message.contains("quantities must match the regular expression"),
        "{message}"
    );
}

#[test]
fn int_or_string_takes_a_name_or_an_int32() {
    let probe = "            path: /ready\n";
    for good in ["port: 8080", "port: http", "port: \"8080\""] {
        parse_edited(probe, &format!("{probe}            {good}\n"))
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["port: 1.5", "port: true", "port: 3000000000"] {
        let paths = refused_paths(probe, &format!("{probe}            {bad}\n"));
        assert_eq!(
            paths,
            ["spec.template.spec.containers[0].readinessProbe.httpGet.port"],
            "{bad}"
        );
    }
}

#[test]
fn every_kind_is_checked_against_its_own_type() {
    let route = "apiVersion: serving.knative.dev/v1\nkind: Route\nmetadata: {name: r}\nspec:\n  traffic:\n  - configurationName: c\n    percent: 100\n    weight: 1\n";
    let err = parse_yaml(route).unwrap_err();
    assert_eq!(err.problem.path(), Some("spec.traffic[0].weight"));
    let revision = "apiVersion: serving.knative.dev/v1\nkind: Revision\nmetadata: {name: r}\nspec:\n  containers: [{image: x}]\n  template: {}\n";
    let err = parse_yaml(revision).unwrap_err();
    assert_eq!(err.problem.path(), Some("spec.template"));
    let configuration = "apiVersion: serving.knative.dev/v1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  template:\n    spec:\n      containers: [{image: x}]\n  traffic: []\n";
    let err = parse_yaml(configuration).unwrap_err();
    assert_eq!(err.problem.path(), Some("spec.traffic"));
}

#[test]
fn every_example_manifest_parses() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut files = Vec::new();
    for dir in [
        "examples",
        "knserve-core/tests/data",
        "../shared/ref/knative-yaml",
    ] {
        collect_yaml(&std::path::Path::new(root).join(dir), &mut files);
    }
    assert!(files.len() >= 6, "found the examples: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        parse_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

fn collect_yaml(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn more_than_the_document_limit_is_refused_before_any_document_is_read() {
    // The first document is not even a Service: the count is checked first.
    let text = "kind: Pod\n".to_owned() + &"---\na: 1\n".repeat(MAX_DOCUMENTS);
    let err = parse_yaml(&text).unwrap_err();
    assert_eq!(
        err.problem,
        ParseProblem::TooManyDocuments {
            limit: MAX_DOCUMENTS
        }
    );
    assert_eq!(
        (err.document, err.line),
        (MAX_DOCUMENTS, 2 * MAX_DOCUMENTS + 1),
        "the error names the first document past the limit and its line"
    );
    assert_eq!(
        err.to_string(),
        "documents[1000] (line 2001): too many documents: at most 1000 in one input"
    );
}

#[test]
fn exactly_the_document_limit_is_read() {
    let text = vec![SERVICE; MAX_DOCUMENTS].join("---\n");
    assert_eq!(
        parse_yaml(&text).expect("1000 Services").len(),
        MAX_DOCUMENTS
    );
}

#[test]
fn lines_count_from_the_start_of_the_input_in_later_documents() {
    let text = format!("{SERVICE}---\n{SERVICE}---\nv: [1, 2\n");
    let first_line = 2 * (SERVICE.lines().count() + 1) + 1;
    let err = parse_yaml(&text).unwrap_err();
    assert_eq!((err.document, err.line), (2, first_line));
    let ParseProblem::Yaml(message) = &err.problem else {
        panic!("a YAML error: {err}");
    };
    assert!(
        message.ends_with(&format!("line {first_line} column 4")),
        "the parser's line is absolute: {message}"
    );
    let duplicate = format!(
        "{SERVICE}---\n{}",
        SERVICE.replacen("kind: Service\n", "kind: Service\nkind: Service\n", 1)
    );
    let err = parse_yaml(&duplicate).unwrap_err();
    assert!(
        matches!(err.problem, ParseProblem::DuplicateKey { line, .. } if line == SERVICE.lines().count() + 4),
        "a field's line is absolute: {err}"
    );
}

#[test]
fn flow_nesting_past_the_parsers_own_limit_is_reported_as_the_depth_rule() {
    let err = yaml_to_json(&format!("v: {}", "[".repeat(100_000))).unwrap_err();
    assert_eq!(
        err,
        ParseProblem::Yaml(
            "nesting deeper than 100 levels at line 1 (at most 100 nested mappings and sequences)"
                .into()
        )
    );
}

#[test]
fn duplicate_keys_are_found_among_many_keys_and_equal_floats() {
    let mut text: String = (0..5000).map(|i| format!("k{i}: v\n")).collect();
    text.push_str("k17: again\n");
    assert!(matches!(
        yaml_to_json(&text).unwrap_err(),
        ParseProblem::DuplicateKey { line: 5001, .. }
    ));
    assert!(matches!(
        yaml_to_json("0.0: a\n-0.0: b\n").unwrap_err(),
        ParseProblem::DuplicateKey { line: 2, .. }
    ));
    assert!(
        yaml_to_json(".nan: a\n.nan: b\n").is_ok(),
        "NaN equals no key, as in goyaml.v2"
    );
}
