//! Image references, as Knative checks them: go-containerregistry v0.20.3's
//! `name.ParseReference` with weak validation (no registry or `library/` required).
//!
//! A reference is a tag reference (`[registry/]repository[:tag]`) or, failing that, a
//! digest reference (`[registry/]repository[:tag]@sha256:<64 lowercase hex>`).
//! - the registry is the part before the first `/` when that part holds a `.` or a
//!   `:`; it must survive Go's `url.Parse("//" + registry)` as the URL's host;
//! - the repository is 2 to 255 characters of `a-z 0-9 _ - . /`;
//! - the tag, after the last `:` when no `/` follows it, is 1 to 128 characters of
//!   `A-Z a-z 0-9 _ - .`; an empty tag (`repo:`) is ignored, as weak validation does.

/// Why `image` is not a reference, or `Ok` when it is one.
pub(super) fn check_image_reference(image: &str) -> Result<(), String> {
    let as_tag = check_tag_reference(image);
    if as_tag.is_ok() {
        return Ok(());
    }
    check_digest_reference(image).map_err(|digest_err| {
        if image.contains('@') {
            digest_err
        } else {
            as_tag.unwrap_err()
        }
    })
}

/// go-containerregistry's `NewTag`.
fn check_tag_reference(name: &str) -> Result<(), String> {
    let (base, tag) = split_tag(name);
    if !tag.is_empty() {
        check_element("tag", tag, is_tag_char, 1, 128)?;
    }
    check_repository(base)
}

/// The base and the tag: the text after the last `:` when it holds no `/`.
fn split_tag(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => (base, tag),
        _ => (name, ""),
    }
}

/// go-containerregistry's `NewDigest`.
fn check_digest_reference(name: &str) -> Result<(), String> {
    let mut parts = name.split('@');
    let (Some(base), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a digest must contain exactly one '@' separator".to_owned());
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("unsupported digest algorithm: {digest}"));
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("a sha256 digest is 64 lowercase hexadecimal characters".to_owned());
    }
    // A tag before the digest is dropped when it parses as one.
    let base = if check_tag_reference(base).is_ok() {
        split_tag(base).0
    } else {
        base
    };
    check_repository(base)
}

/// go-containerregistry's `NewRepository`: an optional registry, then the repository.
fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a repository name must be specified".to_owned());
    }
    let (registry, repo) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) => (first, rest),
        _ => ("", name),
    };
    check_element("repository", repo, is_repository_char, 2, 255)?;
    check_registry(registry)
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_repository_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | '/')
}

fn check_element(
    what: &str,
    element: &str,
    allowed: fn(char) -> bool,
    min: usize,
    max: usize,
) -> Result<(), String> {
    let runes = element.chars().count();
    if runes < min || runes > max {
        return Err(format!(
            "{what} must be between {min} and {max} characters in length: {element}"
        ));
    }
    if !element.chars().all(allowed) {
        return Err(format!("{what} contains a character it may not: {element}"));
    }
    Ok(())
}

/// Whether `url.Parse("//" + registry).Host == registry` in Go (1.26's `net/url`).
fn check_registry(registry: &str) -> Result<(), String> {
    let err = || {
        Err(format!(
            "registries must be valid RFC 3986 URI authorities: {registry}"
        ))
    };
    // `#`, `?` and `@` end or split the authority; `%` escapes change the host.
    if registry
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || matches!(b, b'#' | b'?' | b'@' | b'%'))
    {
        return err();
    }
    let host = match registry.rfind('[') {
        Some(0) => {
            let Some(close) = registry.rfind(']') else {
                return err();
            };
            if !valid_optional_port(&registry[close + 1..]) {
                return err();
            }
            match registry[1..close].parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(_)) => return Ok(()),
                _ => return err(),
            }
        }
        Some(_) => return err(),
        None => registry,
    };
    if let Some(colon) = host.rfind(':') {
        if !valid_optional_port(&host[colon..]) {
            return err();
        }
    }
    let host_byte =
        |b: u8| b >= 0x80 || b.is_ascii_alphanumeric() || b"!\"$&'()*+,-.:;<=>[]_~".contains(&b);
    if host.bytes().all(host_byte) {
        Ok(())
    } else {
        err()
    }
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::check_image_reference;

    const DIGEST: &str = "sha256:deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

    #[test]
    fn references_go_containerregistry_accepts() {
        for image in [
            "nginx",
            "nginx:1.25",
            "nginx:",
            "gcr.io/knative-samples/helloworld-go",
            "localhost:5000/app:v1",
            "ko.local/app",
            "Registry.EXAMPLE.com/app:Tag_1",
            "[::1]:5000/app",
            &format!("example.com/app@{DIGEST}"),
            &format!("example.com/app:v1@{DIGEST}"),
        ] {
            assert!(
                check_image_reference(image).is_ok(),
                "{image} is a reference"
            );
        }
    }

    #[test]
    fn references_go_containerregistry_refuses() {
        for image in [
            "Nginx",
            "example.com/App",
            "a",
            "nginx latest",
            " nginx",
            "example.com/app@sha256:abc",
            "example.com/app@md5:abc",
            &format!("example.com/app@{}", DIGEST.to_uppercase()),
            "example.com:port/app",
            "ex ample.com/app",
            "user@example.com/app",
            "[1.2.3.4]/app",
            "app:bad/tag?",
            &format!("app:{}", "t".repeat(129)),
        ] {
            assert!(
                check_image_reference(image).is_err(),
                "{image:?} is refused"
            );
        }
    }
}
