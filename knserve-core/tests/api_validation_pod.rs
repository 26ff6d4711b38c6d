//! Knative v0.50's pod-spec and container rules on manifests as users write them: each
//! case is parsed, defaulted and validated, and names the path Knative's webhook names
//! (checked against Knative's own code).

use knserve_core::api::{Resource, ValidationConfig, parse_yaml};
use knserve_core::config::{FeaturesConfig, Flag};
use knserve_core::{FieldError, ValidationErrors};

/// A Service whose pod spec is `pod` (lines indented six spaces).
fn service_yaml(pod: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n  namespace: default\nspec:\n  template:\n    spec:\n{pod}"
    )
}

/// A Service with one container (`image: example.com/app` plus `container`, indented
/// eight spaces) and `pod` fields before it.
fn one_container(pod: &str, container: &str) -> String {
    service_yaml(&format!(
        "{pod}      containers:\n      - image: example.com/app\n{container}"
    ))
}

fn verdict(yaml: &str, config: &ValidationConfig) -> Result<(), ValidationErrors> {
    let Resource::Service(mut svc) = parse_yaml(yaml).expect("parses").remove(0) else {
        panic!("a Service");
    };
    svc.set_defaults(&config.defaults);
    svc.validate(config)
}

fn errors_of(yaml: &str, config: &ValidationConfig) -> Vec<FieldError> {
    verdict(yaml, config)
        .err()
        .map(|e| e.errors().to_vec())
        .unwrap_or_default()
}

/// Each case is refused with an error at `path` whose message holds `rule`.
fn assert_refused(cases: &[(&str, String, &str, &str)], config: &ValidationConfig) {
    for (case, yaml, path, rule) in cases {
        let found = errors_of(yaml, config);
        assert!(
            found
                .iter()
                .any(|e| e.path == *path && e.message.contains(rule)),
            "{case}: expected `{path}: …{rule}…`, got {found:#?}"
        );
    }
}

/// Each case is accepted.
fn assert_accepted(cases: &[(&str, String)], config: &ValidationConfig) {
    for (case, yaml) in cases {
        assert_eq!(verdict(yaml, config), Ok(()), "{case} is accepted");
    }
}

fn features(edit: impl FnOnce(&mut FeaturesConfig)) -> ValidationConfig {
    let mut config = ValidationConfig::default();
    edit(&mut config.features);
    config
}

const SPEC: &str = "spec.template.spec";
const C0: &str = "spec.template.spec.containers[0]";

#[test]
fn pod_fields_outside_knatives_mask_are_refused() {
    let fields = [
        ("restartPolicy", "Never"),
        ("terminationGracePeriodSeconds", "0"),
        ("activeDeadlineSeconds", "10"),
        ("nodeName", "node-1"),
        ("hostname", "h"),
        ("subdomain", "s"),
        ("priority", "1"),
        ("preemptionPolicy", "Never"),
        ("setHostnameAsFQDN", "false"),
        ("os", "{name: linux}"),
        ("hostUsers", "false"),
        ("automountServiceAccountToken", "true"),
        ("readinessGates", "[{conditionType: x}]"),
    ];
    for (field, value) in fields {
        let yaml = one_container(&format!("      {field}: {value}\n"), "");
        let path = format!("{SPEC}.{field}");
        assert_refused(
            &[(field, yaml, &path, "must not set the field(s)")],
            &ValidationConfig::default(),
        );
    }
}

#[test]
fn zero_values_and_empty_lists_count_as_unset_pod_fields() {
    let cases = [
        ("restartPolicy \"\"", "      restartPolicy: \"\"\n"),
        ("hostNetwork false", "      hostNetwork: false\n"),
        ("readinessGates []", "      readinessGates: []\n"),
        ("nodeSelector {}", "      nodeSelector: {}\n"),
        (
            "automountServiceAccountToken false",
            "      automountServiceAccountToken: false\n",
        ),
    ];
    let cases = cases.map(|(case, pod)| (case, one_container(pod, "")));
    assert_accepted(&cases, &ValidationConfig::default());
}

#[test]
fn a_gated_pod_field_passes_when_its_flag_is_enabled_or_allowed() {
    let yaml = one_container("      affinity: {}\n", "");
    assert_refused(
        &[(
            "affinity, flag disabled",
            yaml.clone(),
            "spec.template.spec.affinity",
            "kubernetes.podspec-affinity",
        )],
        &ValidationConfig::default(),
    );
    for flag in [Flag::Enabled, Flag::Allowed] {
        let config = features(|f| f.podspec_affinity = flag);
        assert_eq!(verdict(&yaml, &config), Ok(()), "affinity with {flag:?}");
    }
}

#[test]
fn feature_checks_that_demand_enabled_refuse_allowed() {
    let init = service_yaml(
        "      initContainers:\n      - image: example.com/init\n      containers:\n      - image: example.com/app\n",
    );
    let config = features(|f| f.podspec_init_containers = Flag::Allowed);
    assert_refused(
        &[(
            "init containers, flag allowed",
            init.clone(),
            "spec.template.spec.initContainers",
            "to be enabled, got allowed",
        )],
        &config,
    );
    let config = features(|f| f.podspec_init_containers = Flag::Enabled);
    assert_eq!(verdict(&init, &config), Ok(()), "init containers enabled");
    let sidecar = service_yaml(
        "      containers:\n      - image: example.com/app\n        ports: [{containerPort: 8080}]\n      - image: example.com/side\n        name: side\n",
    );
    let config = features(|f| f.multi_container = Flag::Allowed);
    assert!(
        verdict(&sidecar, &config).is_err(),
        "multi-container allowed is not enabled"
    );
}

#[test]
fn container_fields_outside_knatives_mask_are_refused() {
    let cases = [
        ("lifecycle", "lifecycle: {}"),
        ("stdin", "stdin: true"),
        ("stdinOnce", "stdinOnce: true"),
        ("tty", "tty: true"),
        (
            "volumeDevices",
            "volumeDevices: [{name: d, devicePath: /dev/d}]",
        ),
        (
            "resizePolicy",
            "resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]",
        ),
        ("restartPolicy", "restartPolicy: Always"),
    ];
    let cases = cases.map(|(field, line)| {
        (
            field,
            one_container("", &format!("        {line}\n")),
            format!("{C0}.{field}"),
        )
    });
    for (case, yaml, path) in &cases {
        assert_refused(
            &[(case, yaml.clone(), path, "must not set the field(s)")],
            &ValidationConfig::default(),
        );
    }
    let more = [
        (
            "resources.claims",
            one_container("", "        resources: {claims: [{name: gpu}]}\n"),
            "spec.template.spec.containers[0].resources.claims",
            "must not set the field(s)",
        ),
        (
            "a bad terminationMessagePolicy",
            one_container("", "        terminationMessagePolicy: Sometimes\n"),
            "spec.template.spec.containers[0].terminationMessagePolicy",
            "File or FallbackToLogsOnError",
        ),
        (
            "the queue-proxy's name",
            one_container("", "        name: queue-proxy\n"),
            "spec.template.spec.containers[0].name",
            "reserved container name",
        ),
        (
            "a service account name that is not a subdomain",
            one_container("      serviceAccountName: Bad_Name\n", ""),
            "spec.template.spec.serviceAccountName",
            "RFC 1123 subdomain",
        ),
    ];
    assert_refused(&more, &ValidationConfig::default());
    assert_accepted(
        &[(
            "a container name Knative does not check",
            one_container("", "        name: App_1\n"),
        )],
        &ValidationConfig::default(),
    );
}

#[test]
fn a_bad_service_account_name_is_reported_in_knatives_words() {
    let yaml = one_container("      serviceAccountName: foo@bar.baz\n", "");
    let errors = verdict(&yaml, &ValidationConfig::default()).unwrap_err();
    // What Knative's conformance test (TestServiceAccountValidation) looks for.
    let want = "invalid value: foo@bar.baz: spec.template.spec.serviceAccountName\n\
                a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                characters, '-' or '.', and must start and end with an alphanumeric character \
                (e.g. 'example.com', regex used for validation is \
                '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    assert_eq!(errors.to_string(), want);
}

#[test]
fn images_follow_go_containerregistrys_grammar() {
    for image in [
        "Example.com/App",
        "example.com/app@sha256:abc",
        "example.com/app latest",
        "example.com/x",
    ] {
        let yaml = service_yaml(&format!("      containers:\n      - image: {image:?}\n"));
        assert_refused(
            &[(
                image,
                yaml,
                &format!("{C0}.image"),
                "must be an image reference",
            )],
            &ValidationConfig::default(),
        );
    }
    for image in ["nginx:", "localhost:5000/app:v1", "EXAMPLE.com/app:TAG"] {
        let yaml = service_yaml(&format!("      containers:\n      - image: {image:?}\n"));
        assert_accepted(&[(image, yaml)], &ValidationConfig::default());
    }
}

#[test]
fn security_contexts_keep_only_what_knative_allows() {
    let sc = |body: &str| one_container("", &format!("        securityContext: {body}\n"));
    let cases = [
        (
            "privileged",
            sc("{privileged: true}"),
            "spec.template.spec.containers[0].securityContext.privileged",
            "must not set the field(s)",
        ),
        (
            "an added capability",
            sc("{capabilities: {add: [NET_ADMIN]}}"),
            "spec.template.spec.containers[0].securityContext.capabilities.add",
            "kubernetes.containerspec-addcapabilities",
        ),
        (
            "SELinux options",
            sc("{seLinuxOptions: {}}"),
            "spec.template.spec.containers[0].securityContext.seLinuxOptions",
            "must not set the field(s)",
        ),
        (
            "procMount",
            sc("{procMount: Default}"),
            "spec.template.spec.containers[0].securityContext.procMount",
            "must not set the field(s)",
        ),
        (
            "a negative user",
            sc("{runAsUser: -1}"),
            "spec.template.spec.containers[0].securityContext.runAsUser",
            "between 0 and 2147483647, got -1",
        ),
        (
            "a group past MaxInt32",
            sc("{runAsGroup: 2147483648}"),
            "spec.template.spec.containers[0].securityContext.runAsGroup",
            "between 0 and 2147483647",
        ),
        (
            "a pod security context without its flag",
            one_container("      securityContext: {runAsUser: 1000}\n", ""),
            "spec.template.spec.securityContext",
            "kubernetes.podspec-securitycontext",
        ),
    ];
    assert_refused(&cases, &ValidationConfig::default());
    assert_accepted(
        &[(
            "a restricted container context",
            sc(
                "{privileged: false, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}",
            ),
        )],
        &ValidationConfig::default(),
    );
    let config = features(|f| f.containerspec_add_capabilities = Flag::Enabled);
    assert_accepted(
        &[(
            "an added capability, enabled",
            sc("{capabilities: {add: [NET_ADMIN]}}"),
        )],
        &config,
    );
    let config = features(|f| f.podspec_security_context = Flag::Enabled);
    assert_refused(
        &[(
            "sysctls with the flag",
            one_container(
                "      securityContext: {sysctls: [{name: a, value: b}]}\n",
                "",
            ),
            "spec.template.spec.securityContext.sysctls",
            "must not set the field(s)",
        )],
        &config,
    );
}

#[test]
fn env_from_entries_name_exactly_one_source() {
    let cases = [
        (
            "neither",
            one_container("", "        envFrom: [{prefix: X_}]\n"),
            "spec.template.spec.containers[0].envFrom",
            "got neither",
        ),
        (
            "both",
            one_container(
                "",
                "        envFrom: [{configMapRef: {name: a}, secretRef: {name: b}}]\n",
            ),
            "spec.template.spec.containers[0].envFrom",
            "got both",
        ),
    ];
    assert_refused(&cases, &ValidationConfig::default());
}

fn with_volume(mount: &str, volume: &str) -> String {
    service_yaml(&format!(
        "      containers:\n      - image: example.com/app\n        volumeMounts:\n        - {mount}\n      volumes:\n      - {volume}\n"
    ))
}

#[test]
fn volumes_and_mounts_follow_knatives_rules() {
    let secret = "{name: v, secret: {secretName: s}}";
    let mount = |path: &str| format!("{{name: v, mountPath: {path:?}, readOnly: true}}");
    let cases = [
        (
            "a volume never mounted",
            service_yaml(&format!(
                "      containers:\n      - image: example.com/app\n      volumes:\n      - {secret}\n"
            )),
            "spec.template.spec.volumes[0].name",
            "never mounted",
        ),
        (
            "emptyDir on disk",
            with_volume(&mount("/data"), "{name: v, emptyDir: {medium: Disk}}"),
            "spec.template.spec.volumes[0].emptyDir.medium",
            "\"Memory\"",
        ),
        (
            "a configMap item without a key",
            with_volume(
                &mount("/data"),
                "{name: v, configMap: {name: c, items: [{path: p}]}}",
            ),
            "spec.template.spec.volumes[0].items[0].key",
            "is required",
        ),
        (
            "a path that cleans to /dev/log",
            with_volume(&mount("/dev/./log"), secret),
            "spec.template.spec.containers[0].volumeMounts[0].mountPath",
            "\"/dev/log\" is a reserved path",
        ),
        (
            "mount propagation without its flag",
            with_volume(
                "{name: v, mountPath: /data, readOnly: true, mountPropagation: HostToContainer}",
                secret,
            ),
            "spec.template.spec.containers[0].volumeMounts[0].mountPropagation",
            "must not set the field(s)",
        ),
        (
            "a CSI volume without its flag",
            with_volume(&mount("/data"), "{name: v, csi: {driver: d}}"),
            "spec.template.spec.volumes[0].csi",
            "must not set the field(s)",
        ),
    ];
    assert_refused(&cases, &ValidationConfig::default());
    let accepted = ["/tmp", "/var", "/var/log", "/data/"]
        .map(|path| (path, with_volume(&mount(path), secret)));
    assert_accepted(&accepted, &ValidationConfig::default());
}

#[test]
fn probes_follow_knatives_port_and_handler_rules() {
    let probe = |line: &str| one_container("", &format!("        {line}\n"));
    let refused = [
        (
            "a port number written as a string",
            probe("readinessProbe: {tcpSocket: {port: \"8080\"}}"),
            "spec.template.spec.containers[0].readinessProbe.tcpSocket.port",
            "must name the container port",
        ),
        (
            "a startup probe with no handler",
            probe("startupProbe: {}"),
            "spec.template.spec.containers[0].startupProbe.httpGet",
            "got none",
        ),
        (
            "a startup probe naming another port",
            probe("startupProbe: {httpGet: {port: admin}}"),
            "spec.template.spec.containers[0].startupProbe.httpGet.port",
            "must name the container port",
        ),
    ];
    assert_refused(&refused, &ValidationConfig::default());
    let accepted = [
        (
            "another numeric port",
            probe("readinessProbe: {tcpSocket: {port: 9999}}"),
        ),
        (
            "the default port name",
            probe("readinessProbe: {httpGet: {port: http}}"),
        ),
        (
            "exec without a command",
            probe("readinessProbe: {exec: {}}"),
        ),
        ("an empty readiness probe", probe("readinessProbe: {}")),
        ("only a period", probe("readinessProbe: {periodSeconds: 5}")),
        (
            "a zero success threshold",
            probe("readinessProbe: {successThreshold: 0}"),
        ),
        (
            "negative liveness numbers",
            probe("livenessProbe: {periodSeconds: -5, timeoutSeconds: -1, tcpSocket: {}}"),
        ),
    ];
    assert_accepted(&accepted, &ValidationConfig::default());
}

#[test]
fn a_sidecars_readiness_probe_needs_multi_container_probing() {
    let yaml = service_yaml(
        "      containers:\n      - image: example.com/app\n        ports: [{containerPort: 8080}]\n      - image: example.com/side\n        name: side\n        readinessProbe: {}\n",
    );
    // Defaulting gives every readiness probe successThreshold 1, which the sidecar's
    // empty mask refuses.
    assert_refused(
        &[(
            "an empty sidecar readiness probe",
            yaml,
            "spec.template.spec.containers[1].readinessProbe.successThreshold",
            "multi-container-probing",
        )],
        &ValidationConfig::default(),
    );
    let probed = service_yaml(
        "      containers:\n      - image: example.com/app\n        ports: [{containerPort: 8080}]\n      - image: example.com/side\n        name: side\n        livenessProbe: {httpGet: {}}\n",
    );
    let config = features(|f| f.multi_container_probing = Flag::Enabled);
    assert_refused(
        &[(
            "a sidecar probe without a port",
            probed,
            "spec.template.spec.containers[1].livenessProbe.httpGet.port",
            "must be set on a sidecar's probe",
        )],
        &config,
    );
}
