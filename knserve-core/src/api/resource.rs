//! Any of the four resources.

use serde::{Deserialize, Serialize};

use super::configuration::Configuration;
use super::decode::ParseProblem;
use super::meta::ObjectMeta;
use super::revision::Revision;
use super::route::Route;
use super::service::Service;

/// The API version of every resource here.
pub const API_VERSION: &str = "serving.knative.dev/v1";

/// A `serving.knative.dev/v1` object of any kind, told apart by `kind`.
///
/// Serializes as the inner object; deserializes by `kind` (and requires `apiVersion`).
/// Deserializing is lenient (unknown fields are kept): it reads objects the API server
/// already decoded strictly; [`super::parse_yaml`] reads what a user wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// A `Service`.
    Service(Service),
    /// A `Configuration`.
    Configuration(Configuration),
    /// A `Revision`.
    Revision(Revision),
    /// A `Route`.
    Route(Route),
}

impl Resource {
    /// The kinds a document may have.
    pub const KINDS: [&'static str; 4] = [
        Service::KIND,
        Configuration::KIND,
        Revision::KIND,
        Route::KIND,
    ];

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service(_) => Service::KIND,
            Self::Configuration(_) => Configuration::KIND,
            Self::Revision(_) => Revision::KIND,
            Self::Route(_) => Route::KIND,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Service(o) => &o.metadata,
            Self::Configuration(o) => &o.metadata,
            Self::Revision(o) => &o.metadata,
            Self::Route(o) => &o.metadata,
        }
    }

    /// The object's name, or `""`.
    pub fn name(&self) -> &str {
        self.metadata().name()
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
        if field("apiVersion") != API_VERSION {
            return Err(D::Error::custom(ParseProblem::ApiVersion(
                field("apiVersion").to_owned(),
            )));
        }
        let kind = field("kind").to_owned();
        let result = match kind.as_str() {
            Service::KIND => serde_json::from_value(value).map(Self::Service),
            Configuration::KIND => serde_json::from_value(value).map(Self::Configuration),
            Revision::KIND => serde_json::from_value(value).map(Self::Revision),
            Route::KIND => serde_json::from_value(value).map(Self::Route),
            _ => return Err(D::Error::custom(ParseProblem::Kind(kind))),
        };
        result.map_err(D::Error::custom)
    }
}
