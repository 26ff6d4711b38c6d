//! The webhook's own certificates: a self-signed CA and a serving certificate it signs,
//! as Knative's webhook makes them, kept in the `webhook-certs` Secret.
//!
//! Choices: both certificates are valid for [`VALIDITY`] (30 days) and are replaced
//! once less than [`RENEW_BEFORE`] (7 days) remains. Knative parses the certificate to
//! learn its expiry; without an X.509 parser at hand the Secret carries it in an extra
//! data key, [`NOT_AFTER_KEY`] (Unix seconds). The CA key is not kept: a renewal makes
//! a new CA, and the webhook configurations are re-registered with it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::ByteString;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Secret data key of the CA certificate (Knative's name).
pub const CA_CERT_KEY: &str = "ca-cert.pem";
/// Secret data key of the serving certificate (Knative's name).
pub const SERVER_CERT_KEY: &str = "server-cert.pem";
/// Secret data key of the serving certificate's private key (Knative's name).
pub const SERVER_KEY_KEY: &str = "server-key.pem";
/// Secret data key of the certificates' expiry, in Unix seconds (knserve's own).
pub const NOT_AFTER_KEY: &str = "not-after";
/// How long new certificates are valid.
pub const VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long before expiry certificates are replaced.
pub const RENEW_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A certificate could not be made, read or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed to generate or sign.
    #[error("generating the webhook certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// The PEM text does not hold what it should.
    #[error("{0}: not valid PEM")]
    Pem(&'static str),
    /// rustls rejected the key or chain.
    #[error("loading the webhook certificate: {0}")]
    Load(#[from] rustls::Error),
}

/// PEM material the webhook serves with and registers as its CA bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookCerts {
    /// The self-signed CA (the webhook configurations' `caBundle`).
    pub ca_cert: String,
    /// The serving certificate, signed by the CA.
    pub server_cert: String,
    /// The serving certificate's private key (PKCS#8).
    pub server_key: String,
    /// When both certificates expire, in Unix seconds.
    pub not_after: u64,
}

impl std::fmt::Debug for WebhookCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookCerts")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The names the serving certificate covers: `<service>.<ns>.svc`,
/// `<service>.<ns>.svc.cluster.local` and `127.0.0.1`.
pub fn serving_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        "127.0.0.1".to_owned(),
    ]
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl WebhookCerts {
    /// A new CA and a serving certificate for `names` (DNS names or IP addresses),
    /// valid from an hour before `now` for [`VALIDITY`].
    pub fn generate(names: &[String], now: SystemTime) -> Result<Self, CertError> {
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let from = unix_seconds(now);
        let not_before = epoch + Duration::from_secs(from.saturating_sub(3600));
        let not_after = from + VALIDITY.as_secs();

        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name = name("knserve webhook CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (ca.not_before, ca.not_after) = (not_before, epoch + Duration::from_secs(not_after));
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;

        let mut server = CertificateParams::new(names.to_vec())?;
        server.distinguished_name = name(names.first().map_or("webhook", String::as_str));
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (server.not_before, server.not_after) = (ca.not_before, ca.not_after);
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &Issuer::new(ca, ca_key))?;
        Ok(Self {
            ca_cert: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            not_after,
        })
    }

    /// Whether less than [`RENEW_BEFORE`] remains at `now`.
    pub fn needs_renewal(&self, now: SystemTime) -> bool {
        unix_seconds(now) + RENEW_BEFORE.as_secs() >= self.not_after
    }

    /// The Secret's `data`.
    pub fn to_secret_data(&self) -> BTreeMap<String, ByteString> {
        [
            (CA_CERT_KEY, self.ca_cert.clone()),
            (SERVER_CERT_KEY, self.server_cert.clone()),
            (SERVER_KEY_KEY, self.server_key.clone()),
            (NOT_AFTER_KEY, self.not_after.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
        .collect()
    }

    /// Reads a Secret's `data`; `None` when a key is missing or not text, so that the
    /// caller makes new certificates.
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Option<Self> {
        let text = |key: &str| {
            data.get(key)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        };
        Some(Self {
            ca_cert: text(CA_CERT_KEY)?,
            server_cert: text(SERVER_CERT_KEY)?,
            server_key: text(SERVER_KEY_KEY)?,
            not_after: text(NOT_AFTER_KEY)?.trim().parse().ok()?,
        })
    }

    /// The serving certificate and key as rustls serves them.
    pub fn certified_key(&self, provider: &CryptoProvider) -> Result<CertifiedKey, CertError> {
        let chain = CertificateDer::pem_slice_iter(self.server_cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| CertError::Pem(SERVER_CERT_KEY))?;
        if chain.is_empty() {
            return Err(CertError::Pem(SERVER_CERT_KEY));
        }
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())
            .map_err(|_| CertError::Pem(SERVER_KEY_KEY))?;
        Ok(CertifiedKey::from_der(chain, key, provider)?)
    }

    /// The CA certificate in DER, for clients that trust it.
    pub fn ca_der(&self) -> Result<CertificateDer<'static>, CertError> {
        CertificateDer::from_pem_slice(self.ca_cert.as_bytes())
            .map_err(|_| CertError::Pem(CA_CERT_KEY))
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The crypto provider the webhook uses (ring, like the rest of the crate).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn generated_certs_load_into_rustls_and_round_trip_through_a_secret() {
        let now = at(1_800_000_000);
        let certs = WebhookCerts::generate(&serving_names("webhook", "knative-serving"), now)
            .expect("rcgen makes certificates");
        certs
            .certified_key(&provider())
            .expect("the key matches the certificate");
        certs.ca_der().expect("the CA is PEM");
        assert_eq!(
            WebhookCerts::from_secret_data(&certs.to_secret_data()),
            Some(certs.clone()),
            "what is written to the Secret reads back the same"
        );
        assert_eq!(
            certs.not_after,
            1_800_000_000 + VALIDITY.as_secs(),
            "valid for VALIDITY"
        );
    }

    #[test]
    fn certs_are_renewed_only_near_expiry() {
        let certs = WebhookCerts::generate(&serving_names("webhook", "ns"), at(1_000_000))
            .expect("rcgen makes certificates");
        let last_safe = certs.not_after - RENEW_BEFORE.as_secs() - 1;
        assert!(
            !certs.needs_renewal(at(last_safe)),
            "kept while far from expiry"
        );
        assert!(
            certs.needs_renewal(at(last_safe + 1)),
            "renewed within RENEW_BEFORE"
        );
    }

    #[test]
    fn an_incomplete_secret_reads_as_absent() {
        let mut data = WebhookCerts::generate(&serving_names("w", "ns"), at(0))
            .expect("rcgen makes certificates")
            .to_secret_data();
        data.remove(NOT_AFTER_KEY);
        assert_eq!(
            WebhookCerts::from_secret_data(&data),
            None,
            "a partial Secret is remade"
        );
    }
}
