//! The `serving.knative.dev/v1` resources.
