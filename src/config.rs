//! Typed settings from flags and environment, validated once at start.
//!
//! clap gathers raw strings (each flag also reads its environment variable); the `validate`
//! functions here turn them into typed settings or a [`ConfigError`] that names the setting
//! and the offending value, so a typo in a deployment fails at start and says where.

use std::time::Duration;

use url::Url;

mod redis_urls;
pub use redis_urls::{validate_redis_urls, RedisUrls};

/// A setting that could not be used: which one, the value given, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {value:?} {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A connection URL whose password never reaches logs or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// The full URL, password included, for the driver only.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with any password replaced by `***`, and so is the value of any query
    /// parameter that may carry a secret (`?password=`, `sslpassword=`, tokens, keys).
    pub fn redacted(&self) -> String {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        if shown.query_pairs().any(|(k, _)| is_secret_parameter(&k)) {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_secret_parameter(&k) {
                        "***".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        shown.to_string()
    }
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token", "key"]
        .iter()
        .any(|s| name.contains(s))
}

/// What an error may show of a connection URL: a URL that parses cleanly is shown redacted
/// (password and secret parameters as `***`). Anything else shows scheme, host and port
/// only: nothing tells where a password would end, so only what follows the last `@`
/// (where the host must be), up to the path, is kept.
fn shown(value: &str) -> String {
    if let Ok(url) = Url::parse(value) {
        if !has_text_after_host_like_a_password(&url) {
            return SecretUrl(url).redacted();
        }
    }
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let (userinfo, host) = match rest.rsplit_once('@') {
        Some((_, host)) => ("***@", host),
        None => ("", rest),
    };
    let host = host.split(['/', '?', '#']).next().unwrap_or_default();
    let scheme = match scheme.is_empty() {
        true => String::new(),
        false => format!("{scheme}://"),
    };
    format!("{scheme}{userinfo}{host}")
}

/// An `@` after the host means a password with an unencoded `/`, `?` or `#` was cut there
/// by the parser and its tail landed in the path, query or fragment.
fn has_text_after_host_like_a_password(url: &Url) -> bool {
    let after_host = [Some(url.path()), url.query(), url.fragment()];
    after_host
        .into_iter()
        .flatten()
        .any(|part| part.contains('@'))
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

const ENCODE_HINT: &str =
    "; a password with any of / ? # @ must have them percent-encoded (%2F %3F %23 %40)";

/// Parses `value` as a URL whose scheme is one of `schemes`.
pub fn validate_url(
    setting: &'static str,
    value: &str,
    schemes: &[&str],
) -> Result<SecretUrl, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        ConfigError::new(
            setting,
            &shown(value),
            format!("is not a URL ({e}){ENCODE_HINT}"),
        )
    })?;
    if has_text_after_host_like_a_password(&url) {
        let why = format!("has an '@' after its host{ENCODE_HINT}");
        return Err(ConfigError::new(setting, &shown(value), why));
    }
    if !schemes.contains(&url.scheme()) {
        let expected = schemes
            .iter()
            .map(|s| format!("{s}://"))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(ConfigError::new(
            setting,
            &shown(value),
            format!("must start with {expected}"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(setting, &shown(value), "has no host"));
    }
    Ok(SecretUrl(url))
}

pub fn validate_postgres_url(setting: &'static str, value: &str) -> Result<SecretUrl, ConfigError> {
    validate_url(setting, value, &["postgres", "postgresql"])
}

/// One Redis URL; [`validate_redis_urls`] reads the setting, which may list a cluster's nodes.
pub fn validate_redis_url(setting: &'static str, value: &str) -> Result<SecretUrl, ConfigError> {
    validate_url(setting, value, &["redis", "rediss"])
}

/// The AWS connection: region always, an endpoint override for LocalStack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    pub fn validate(region: &str, endpoint_url: Option<&str>) -> Result<Self, ConfigError> {
        let region_ok = !region.is_empty()
            && region.len() <= 32
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(ConfigError::new(
                "AWS_REGION (--aws-region)",
                region,
                "is not an AWS region name like us-east-1",
            ));
        }
        let endpoint_url = match endpoint_url.filter(|v| !v.is_empty()) {
            Some(v) => {
                validate_url(
                    "AWS_ENDPOINT_URL (--aws-endpoint-url)",
                    v,
                    &["http", "https"],
                )?;
                Some(v.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        Ok(Self {
            region: region.to_owned(),
            endpoint_url,
        })
    }
}

/// The names and shape of our topics and queues: one place derives every name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub prefix: String,
    pub fifo: bool,
    pub max_receive_count: u32,
    pub visibility_timeout: Duration,
}

impl Topology {
    pub fn validate(
        prefix: &str,
        fifo: bool,
        max_receive_count: u32,
        visibility_timeout_secs: u64,
    ) -> Result<Self, ConfigError> {
        let prefix_ok = prefix.len() <= 30
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !prefix_ok {
            return Err(ConfigError::new(
                "FULFIL_QUEUE_PREFIX (--prefix)",
                prefix,
                "must be at most 30 characters of A-Z a-z 0-9 - _",
            ));
        }
        if !(1..=1000).contains(&max_receive_count) {
            return Err(ConfigError::new(
                "FULFIL_MAX_RECEIVE_COUNT (--max-receive-count)",
                &max_receive_count.to_string(),
                "must be between 1 and 1000",
            ));
        }
        if !(1..=43_200).contains(&visibility_timeout_secs) {
            return Err(ConfigError::new(
                "FULFIL_VISIBILITY_TIMEOUT (--visibility-timeout)",
                &visibility_timeout_secs.to_string(),
                "must be between 1 and 43200 seconds",
            ));
        }
        let visibility_timeout = Duration::from_secs(visibility_timeout_secs);
        Ok(Self {
            prefix: prefix.to_owned(),
            fifo,
            max_receive_count,
            visibility_timeout,
        })
    }

    fn name(&self, base: &str) -> String {
        let suffix = if self.fifo { ".fifo" } else { "" };
        format!("{}{base}{suffix}", self.prefix)
    }

    pub fn commands_topic(&self) -> String {
        self.name("fulfil-order-commands")
    }
    pub fn commands_queue(&self) -> String {
        self.name("fulfil-order-commands")
    }
    pub fn commands_dlq(&self) -> String {
        self.name("fulfil-order-commands-dlq")
    }
    pub fn events_topic(&self) -> String {
        self.name("fulfil-order-events")
    }
    pub fn projector_queue(&self) -> String {
        self.name("fulfil-projector")
    }
    pub fn projector_dlq(&self) -> String {
        self.name("fulfil-projector-dlq")
    }
}

/// The processing deadline of a batch, in milliseconds: longer than the lock lease (one
/// healthy commit may take up to a lease, and a batch that waits for a contended lock waits
/// a lease at a time), and at most 12 hours, SQS's longest visibility timeout (a batch held
/// longer is hung, not slow).
pub fn validate_processing_deadline(
    setting: &'static str,
    ms: u64,
    lease_ms: u64,
) -> Result<Duration, ConfigError> {
    const MOST_MS: u64 = 43_200_000;
    let refuse = |reason: String| Err(ConfigError::new(setting, &ms.to_string(), reason));
    if ms <= lease_ms {
        return refuse(format!(
            "must be longer than the lock lease (FULFIL_LOCK_LEASE_MS = {lease_ms})"
        ));
    }
    if ms > MOST_MS {
        return refuse(format!("must be at most {MOST_MS} (12 hours)"));
    }
    Ok(Duration::from_millis(ms))
}

/// An address to listen on, like `127.0.0.1:9464`.
pub fn validate_socket_addr(
    setting: &'static str,
    value: &str,
) -> Result<std::net::SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::new(setting, value, "is not an address like 127.0.0.1:9464"))
}

/// An `http://host:port/path` URL on an IP address (local probes resolve no names).
pub fn validate_http_target(
    setting: &'static str,
    value: &str,
) -> Result<(std::net::SocketAddr, String), ConfigError> {
    let url = validate_url(setting, value, &["http"])?;
    let parsed =
        Url::parse(url.expose()).map_err(|e| ConfigError::new(setting, value, e.to_string()))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_matches(|c| c == '[' || c == ']');
    let port = parsed.port_or_known_default().unwrap_or(80);
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| ConfigError::new(setting, value, "must name an IP address, like 127.0.0.1"))?;
    Ok((
        std::net::SocketAddr::new(ip, port),
        parsed.path().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_with_the_wrong_scheme_names_the_setting_and_value() {
        let err = validate_postgres_url("FULFIL_WRITE_DATABASE_URL", "mysql://db/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "FULFIL_WRITE_DATABASE_URL: \"mysql://db/x\" must start with postgres:// or postgresql://"
        );
    }

    #[test]
    fn a_password_never_appears_in_errors_or_display() {
        let err = validate_redis_url("FULFIL_REDIS_URL", "http://u:hunter2@h/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let url = validate_postgres_url("X", "postgres://u:hunter2@h:5/db").unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@h:5/db");
        assert!(url.expose().contains("hunter2"));
    }

    /// Every character with a meaning in a URL, between two markers: a leak of any part of
    /// the password shows at least one of them.
    const PASSWORD: &str = "Zq9:/?#[]@!$&'()*+,;=% \"<>\\^`{|}~Wk7";

    fn leaks(text: &str) -> bool {
        text.contains("Zq9") || text.contains("Wk7")
    }

    fn percent_encoded(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn a_password_with_every_url_special_character_is_refused_without_being_shown() {
        for scheme in ["postgres", "redis"] {
            let raw = format!("{scheme}://fulfil:{PASSWORD}@db.internal:5432/fulfil");
            let err = validate_url("X", &raw, &[scheme]).unwrap_err();
            let text = err.to_string();
            assert!(!leaks(&text), "{text}");
            assert!(
                text.contains("db.internal:5432"),
                "the host is shown: {text}"
            );
            assert!(text.contains("percent-encoded"), "the fix is named: {text}");
        }
    }

    #[test]
    fn a_percent_encoded_password_with_every_special_character_is_used_and_never_shown() {
        let encoded = percent_encoded(PASSWORD);
        for scheme in ["postgres", "redis"] {
            let value = format!("{scheme}://fulfil:{encoded}@db.internal:5432/fulfil");
            let url = validate_url("X", &value, &[scheme]).unwrap();
            assert!(
                !leaks(&url.to_string()) && !leaks(&format!("{url:?}")),
                "{url}"
            );
            assert!(url.expose().contains(&encoded), "the driver gets it");
        }
    }

    #[test]
    fn a_password_cut_by_an_unencoded_slash_is_refused_not_taken_for_a_path() {
        let err = validate_postgres_url("X", "postgres://u:123/Zq9@db:5432/x").unwrap_err();
        assert!(!leaks(&err.to_string()), "{err}");
        assert_eq!(err.value, "postgres://***@db:5432");
    }

    #[test]
    fn secret_query_parameters_are_hidden_and_the_others_kept() {
        let url =
            validate_postgres_url("X", "postgres://h/db?sslmode=require&password=Zq9").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://h/db?sslmode=require&password=***"
        );
    }

    #[test]
    fn garbage_is_not_a_url() {
        let err = validate_redis_url("FULFIL_REDIS_URL", "localhost:6379").unwrap_err();
        assert_eq!(err.setting, "FULFIL_REDIS_URL");
        assert_eq!(err.value, "localhost:6379");
    }

    #[test]
    fn a_health_url_becomes_an_address_and_a_path() {
        let (addr, path) = validate_http_target("X", "http://127.0.0.1:8080/healthz").unwrap();
        assert_eq!(
            (addr.to_string(), path.as_str()),
            ("127.0.0.1:8080".to_owned(), "/healthz")
        );
        assert!(validate_http_target("X", "http://localhost:8080/healthz").is_err());
    }

    #[test]
    fn fifo_names_end_in_fifo_and_carry_the_prefix() {
        let t = Topology::validate("dev-", true, 5, 30).unwrap();
        assert_eq!(t.commands_queue(), "dev-fulfil-order-commands.fifo");
        assert_eq!(t.projector_dlq(), "dev-fulfil-projector-dlq.fifo");
        let s = Topology::validate("", false, 5, 30).unwrap();
        assert_eq!(s.events_topic(), "fulfil-order-events");
    }

    #[test]
    fn a_prefix_with_a_dot_is_refused() {
        let err = Topology::validate("a.b", true, 5, 30).unwrap_err();
        assert_eq!(err.value, "a.b");
        assert!(err.setting.contains("FULFIL_QUEUE_PREFIX"));
    }

    #[test]
    fn a_zero_receive_count_is_refused() {
        assert!(Topology::validate("", true, 0, 30).is_err());
    }

    #[test]
    fn a_processing_deadline_must_outlast_the_lock_lease_and_stay_within_12_hours() {
        let setting = "FULFIL_PROCESSING_DEADLINE_MS (--processing-deadline-ms)";
        assert_eq!(
            validate_processing_deadline(setting, 300_000, 5000),
            Ok(Duration::from_secs(300))
        );
        let short = validate_processing_deadline(setting, 5000, 5000).unwrap_err();
        assert_eq!(
            short.to_string(),
            "FULFIL_PROCESSING_DEADLINE_MS (--processing-deadline-ms): \"5000\" must be \
             longer than the lock lease (FULFIL_LOCK_LEASE_MS = 5000)"
        );
        assert!(validate_processing_deadline(setting, 0, 5000).is_err());
        let long = validate_processing_deadline(setting, 43_200_001, 5000).unwrap_err();
        assert_eq!(long.value, "43200001");
    }

    #[test]
    fn region_and_endpoint_are_checked() {
        assert!(AwsSettings::validate("US East", None).is_err());
        let err = AwsSettings::validate("us-east-1", Some("ftp://x")).unwrap_err();
        assert!(err.setting.starts_with("AWS_ENDPOINT_URL"));
        let ok = AwsSettings::validate("us-east-1", Some("http://127.0.0.1:62669")).unwrap();
        assert_eq!(ok.endpoint_url.as_deref(), Some("http://127.0.0.1:62669"));
    }
}
