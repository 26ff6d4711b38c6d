//! PodAutoscaler of class `hpa.autoscaling.knative.dev` → autoscaling/v2
//! HorizontalPodAutoscaler (spec §2.3), as Knative's HPA reconciler builds it.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec,
    MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use knserve_core::autoscaler::annotations::{CLASS, METRIC, TARGET};
use knserve_core::autoscaler::{AutoscalingAnnotations, Metric};
use knserve_core::config::{AutoscalerConfig, PodAutoscalerClass};

use super::revision::{InvalidInput, controller_ref, namespace_of};
use crate::crd::PodAutoscaler;

/// The CPU utilization target, in percent, when `autoscaling.knative.dev/target` is unset.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// Why a PodAutoscaler has no HorizontalPodAutoscaler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpaError {
    /// A field is missing or breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// An annotation does not allow an HPA.
    #[error("annotations[{annotation}]: {rule}")]
    Annotation {
        /// The annotation's key.
        annotation: String,
        /// The rule it breaks.
        rule: String,
    },
}

fn annotation_error(annotation: &str, rule: impl Into<String>) -> HpaError {
    HpaError::Annotation {
        annotation: annotation.to_owned(),
        rule: rule.into(),
    }
}

/// The HorizontalPodAutoscaler `<pa>` for an HPA-class PodAutoscaler: it scales the PA's
/// target between `min-scale` (at least 1 — an HPA cannot scale to zero; 0 while
/// unreachable is 1 too) and `max-scale` (0 = 2147483647), from the annotations else
/// `config-autoscaler`, on:
///
/// - `cpu` (the default): `averageUtilization` = `target` rounded up, default 80 %;
/// - `memory`: `averageValue` = `target` MiB per pod (required);
/// - any other name: a Pods metric of that name with `averageValue` = `target`
///   (required).
///
/// A `window` annotation becomes the scale-up and scale-down stabilization windows.
///
/// # Errors
/// A PA of another class, a KPA metric (`concurrency`, `rps`), a missing required
/// `target`, invalid autoscaling annotations, or missing name, namespace, uid or
/// scale target.
pub fn desired_hpa(
    pa: &PodAutoscaler,
    config: &AutoscalerConfig,
) -> Result<HorizontalPodAutoscaler, HpaError> {
    let annotations = pa.metadata.annotations.clone().unwrap_or_default();
    let parsed = AutoscalingAnnotations::parse(&annotations, config).map_err(|errors| {
        let first = errors.first();
        HpaError::Annotation {
            annotation: first.map(|e| e.path.clone()).unwrap_or_default(),
            rule: first.map(|e| e.message.clone()).unwrap_or_default(),
        }
    })?;
    let class = parsed
        .class
        .clone()
        .unwrap_or_else(|| config.pod_autoscaler_class.clone());
    if class != PodAutoscalerClass::Hpa {
        return Err(annotation_error(
            CLASS.canonical,
            format!(
                "is {}; a HorizontalPodAutoscaler is built only for class {}",
                class.name(),
                PodAutoscalerClass::HPA
            ),
        ));
    }
    let name = pa
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.name", "the PodAutoscaler must have a name"))?;
    let target = &pa.spec.scale_target_ref;
    let target_name = target
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InvalidInput::new("spec.scaleTargetRef.name", "must name the Deployment"))?;
    let (min, max) = bounds(&parsed, config, pa.spec.reachability == "Unreachable");
    let spec = HorizontalPodAutoscalerSpec {
        scale_target_ref: CrossVersionObjectReference {
            api_version: target.api_version.clone(),
            kind: target
                .kind
                .clone()
                .unwrap_or_else(|| "Deployment".to_owned()),
            name: target_name,
        },
        min_replicas: Some(min),
        max_replicas: max,
        metrics: Some(vec![metric(&parsed)?]),
        behavior: parsed.window.map(|window| {
            let seconds = i32::try_from(window.as_secs()).unwrap_or(i32::MAX);
            let rules = HPAScalingRules {
                stabilization_window_seconds: Some(seconds),
                ..HPAScalingRules::default()
            };
            HorizontalPodAutoscalerBehavior {
                scale_down: Some(rules.clone()),
                scale_up: Some(rules),
            }
        }),
    };
    Ok(HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace_of(pa)?),
            labels: pa.metadata.labels.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(pa)?]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// `(minReplicas, maxReplicas)`: min at least 1, max at least min, 0 max unbounded.
fn bounds(
    parsed: &AutoscalingAnnotations,
    config: &AutoscalerConfig,
    unreachable: bool,
) -> (i32, i32) {
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let min = if unreachable {
        0
    } else {
        parsed.min_scale.unwrap_or(config.min_scale)
    };
    let min = to_i32(min).max(1);
    let max = match parsed.max_scale.unwrap_or(config.max_scale) {
        0 => i32::MAX,
        n => to_i32(n),
    };
    (min, max.max(min))
}

fn metric(parsed: &AutoscalingAnnotations) -> Result<MetricSpec, HpaError> {
    let metric = parsed.metric.clone().unwrap_or(Metric::Cpu);
    let required = |what: &str| {
        parsed.target.ok_or_else(|| {
            annotation_error(
                TARGET.canonical,
                format!(
                    "is required for metric {what} with class {}",
                    PodAutoscalerClass::HPA
                ),
            )
        })
    };
    let resource = |name: &str, target: MetricTarget| MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: name.to_owned(),
            target,
        }),
        ..MetricSpec::default()
    };
    match metric {
        Metric::Cpu => {
            let percent = parsed.target.map_or(DEFAULT_CPU_UTILIZATION, |t| {
                t.ceil().min(f64::from(i32::MAX)) as i32
            });
            Ok(resource(
                "cpu",
                MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(percent),
                    ..MetricTarget::default()
                },
            ))
        }
        Metric::Memory => {
            let mebibytes = required("memory")?.floor() as i64;
            Ok(resource(
                "memory",
                MetricTarget {
                    type_: "AverageValue".to_owned(),
                    average_value: Some(Quantity(format!("{mebibytes}Mi"))),
                    ..MetricTarget::default()
                },
            ))
        }
        Metric::Concurrency | Metric::Rps => Err(annotation_error(
            METRIC.canonical,
            format!(
                "{} is a metric of class {}; class {} scales on cpu, memory or a custom pods metric",
                metric.name(),
                PodAutoscalerClass::KPA,
                PodAutoscalerClass::HPA
            ),
        )),
        Metric::Other(name) => {
            let value = required(&name)?.floor() as i64;
            Ok(MetricSpec {
                type_: "Pods".to_owned(),
                pods: Some(PodsMetricSource {
                    metric: MetricIdentifier {
                        name,
                        selector: None,
                    },
                    target: MetricTarget {
                        type_: "AverageValue".to_owned(),
                        average_value: Some(Quantity(value.to_string())),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;

    use super::*;
    use crate::crd::PodAutoscalerSpec;

    fn pa(annotations: &[(&str, &str)]) -> PodAutoscaler {
        let mut pa = PodAutoscaler::new(
            "helloworld-go-00001",
            PodAutoscalerSpec {
                container_concurrency: 0,
                scale_target_ref: ObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: Some("Deployment".into()),
                    name: Some("helloworld-go-00001-deployment".into()),
                    ..ObjectReference::default()
                },
                reachability: "Reachable".into(),
                protocol_type: "http1".into(),
            },
        );
        pa.metadata.namespace = Some("example".into());
        pa.metadata.uid = Some("9a9a0000-0000-4000-8000-000000000001".into());
        let mut map: std::collections::BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.insert(CLASS.canonical.into(), PodAutoscalerClass::HPA.into());
        pa.metadata.annotations = Some(map);
        pa
    }

    fn build(pa: &PodAutoscaler) -> Result<HorizontalPodAutoscaler, HpaError> {
        desired_hpa(pa, &AutoscalerConfig::default())
    }

    fn only_metric(hpa: &HorizontalPodAutoscaler) -> MetricSpec {
        hpa.spec.metrics.clone().expect("metrics")[0].clone()
    }

    #[test]
    fn cpu_is_the_default_metric_at_80_percent_and_targets_the_deployment() {
        let hpa = build(&pa(&[])).expect("builds");
        let spec = &hpa.spec;
        assert_eq!(spec.scale_target_ref.name, "helloworld-go-00001-deployment");
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(spec.min_replicas, Some(1), "an HPA never scales to zero");
        assert_eq!(spec.max_replicas, i32::MAX, "max-scale 0 is unbounded");
        let resource = only_metric(&hpa).resource.expect("a resource metric");
        assert_eq!(resource.name, "cpu");
        assert_eq!(resource.target.average_utilization, Some(80));
        let owner = &hpa.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("PodAutoscaler", Some(true))
        );
    }

    #[test]
    fn the_target_is_the_cpu_percentage_rounded_up_and_bounds_come_from_annotations() {
        let hpa = build(&pa(&[
            ("autoscaling.knative.dev/target", "55.5"),
            ("autoscaling.knative.dev/min-scale", "2"),
            ("autoscaling.knative.dev/max-scale", "10"),
            ("autoscaling.knative.dev/window", "2m"),
        ]))
        .expect("builds");
        let spec = &hpa.spec;
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 10));
        let resource = only_metric(&hpa).resource.expect("resource");
        assert_eq!(resource.target.average_utilization, Some(56));
        let behavior = spec.behavior.as_ref().expect("window → behavior");
        let down = behavior
            .scale_down
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds);
        assert_eq!(down, Some(120));
    }

    #[test]
    fn memory_targets_an_average_value_in_mebibytes() {
        let hpa = build(&pa(&[
            ("autoscaling.knative.dev/metric", "memory"),
            ("autoscaling.knative.dev/target", "75"),
        ]))
        .expect("builds");
        let resource = only_metric(&hpa).resource.expect("resource");
        assert_eq!(resource.name, "memory");
        assert_eq!(resource.target.type_, "AverageValue");
        assert_eq!(resource.target.average_value, Some(Quantity("75Mi".into())));
    }

    #[test]
    fn a_custom_metric_is_a_pods_metric() {
        let hpa = build(&pa(&[
            ("autoscaling.knative.dev/metric", "http_requests"),
            ("autoscaling.knative.dev/target", "30"),
        ]))
        .expect("builds");
        let pods = only_metric(&hpa).pods.expect("a pods metric");
        assert_eq!(pods.metric.name, "http_requests");
        assert_eq!(pods.target.average_value, Some(Quantity("30".into())));
    }

    #[test]
    fn concurrency_with_class_hpa_is_an_error_naming_the_annotation() {
        let err = build(&pa(&[("autoscaling.knative.dev/metric", "concurrency")]))
            .expect_err("a KPA metric");
        assert!(
            matches!(&err, HpaError::Annotation { annotation, .. } if annotation == "autoscaling.knative.dev/metric"),
            "{err}"
        );
        assert!(err.to_string().contains("concurrency"), "{err}");
    }

    #[test]
    fn memory_without_a_target_and_a_kpa_class_are_errors() {
        let err = build(&pa(&[("autoscaling.knative.dev/metric", "memory")])).expect_err("target");
        assert!(
            err.to_string().contains("autoscaling.knative.dev/target"),
            "{err}"
        );
        let mut kpa = pa(&[]);
        kpa.metadata
            .annotations
            .get_or_insert_default()
            .insert(CLASS.canonical.into(), PodAutoscalerClass::KPA.into());
        let err = build(&kpa).expect_err("not an HPA");
        assert!(
            err.to_string().contains("autoscaling.knative.dev/class"),
            "{err}"
        );
    }

    #[test]
    fn an_unreachable_revision_keeps_one_pod() {
        let mut unreachable = pa(&[("autoscaling.knative.dev/min-scale", "3")]);
        unreachable.spec.reachability = "Unreachable".into();
        let hpa = build(&unreachable).expect("builds");
        assert_eq!(hpa.spec.min_replicas, Some(1), "min-scale is ignored");
    }

    #[test]
    fn a_pa_without_uid_or_target_is_an_error() {
        let mut no_uid = pa(&[]);
        no_uid.metadata.uid = None;
        assert!(matches!(build(&no_uid), Err(HpaError::Invalid(e)) if e.field == "metadata.uid"));
        let mut no_target = pa(&[]);
        no_target.spec.scale_target_ref.name = None;
        assert!(
            matches!(build(&no_target), Err(HpaError::Invalid(e)) if e.field == "spec.scaleTargetRef.name")
        );
    }
}
