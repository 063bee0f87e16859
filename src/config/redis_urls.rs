//! The Redis setting: one URL (a single node, as before) or several separated by commas (seed
//! nodes of a Redis Cluster: any reachable one tells the client the rest).

use super::{shown, validate_redis_url, ConfigError, SecretUrl};

/// One Redis URL, or the seed URLs of a Redis Cluster; passwords never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrls(Vec<SecretUrl>);

impl RedisUrls {
    pub fn urls(&self) -> &[SecretUrl] {
        &self.0
    }

    /// Several URLs mean a cluster; one means a single node.
    pub fn is_cluster(&self) -> bool {
        self.0.len() > 1
    }

    /// The setting's value, passwords included (to hand to a child process's environment).
    pub fn expose(&self) -> String {
        self.join(SecretUrl::expose)
    }

    pub fn redacted(&self) -> String {
        self.join(|url| url.redacted())
    }

    fn join<'a, S: AsRef<str>>(&'a self, show: impl Fn(&'a SecretUrl) -> S) -> String {
        let shown: Vec<S> = self.0.iter().map(show).collect();
        shown
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl From<SecretUrl> for RedisUrls {
    fn from(url: SecretUrl) -> Self {
        Self(vec![url])
    }
}

impl std::fmt::Debug for RedisUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for RedisUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// One `redis://`/`rediss://` URL, or several separated by commas, all of one scheme (a
/// cluster is TLS or not throughout). A single URL whose password holds a comma is still
/// read as one URL.
pub fn validate_redis_urls(setting: &'static str, value: &str) -> Result<RedisUrls, ConfigError> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if entries.len() == 1 {
        return validate_redis_url(setting, value).map(RedisUrls::from);
    }
    let urls = match parse_entries(setting, &entries) {
        Err(_) if validate_redis_url(setting, value).is_ok() => {
            return validate_redis_url(setting, value).map(RedisUrls::from);
        }
        parsed => parsed?,
    };
    let schemes = urls.iter().map(|u| u.expose().split(':').next());
    if schemes.collect::<std::collections::BTreeSet<_>>().len() > 1 {
        let why = "mixes redis:// and rediss:// (a cluster's nodes are all TLS or none)";
        return Err(ConfigError::new(setting, &shown_list(&entries), why));
    }
    Ok(RedisUrls(urls))
}

/// Each entry of a comma-separated list; an error names the entry and shows the whole list
/// redacted.
fn parse_entries(setting: &'static str, entries: &[&str]) -> Result<Vec<SecretUrl>, ConfigError> {
    let list_error = |i: usize, reason: String| {
        let why = format!(
            "is a comma-separated list of Redis URLs whose entry {} {reason}; \
             a password with a comma must have it percent-encoded (%2C)",
            i + 1
        );
        ConfigError::new(setting, &shown_list(entries), why)
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| match entry.is_empty() {
            true => Err(list_error(i, "is empty".to_owned())),
            false => validate_redis_url(setting, entry).map_err(|e| list_error(i, e.reason)),
        })
        .collect()
}

fn shown_list(entries: &[&str]) -> String {
    let shown: Vec<String> = entries.iter().map(|e| shown(e)).collect();
    shown.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "FULFIL_REDIS_URL (--redis-url)";

    #[test]
    fn one_url_is_a_single_node() {
        let urls = validate_redis_urls(SETTING, "redis://:pw@h:6379/1").unwrap();
        assert!(!urls.is_cluster());
        assert_eq!(urls.expose(), "redis://:pw@h:6379/1");
    }

    #[test]
    fn several_urls_are_a_cluster_shown_without_passwords() {
        let urls = validate_redis_urls(SETTING, "rediss://:pw@a:1, rediss://:pw@b:2").unwrap();
        assert!(urls.is_cluster());
        assert_eq!(urls.urls().len(), 2);
        assert_eq!(urls.to_string(), "rediss://:***@a:1,rediss://:***@b:2");
        assert_eq!(urls.expose(), "rediss://:pw@a:1,rediss://:pw@b:2");
    }

    #[test]
    fn a_malformed_entry_names_the_setting_and_the_entry_and_hides_passwords() {
        let err = validate_redis_urls(SETTING, "redis://:hunter2@a:1,b:2").unwrap_err();
        assert_eq!(err.setting, SETTING);
        assert_eq!(err.value, "redis://:***@a:1,b:2");
        assert!(err.reason.contains("entry 2"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn an_empty_entry_or_mixed_schemes_are_refused() {
        let err = validate_redis_urls(SETTING, "redis://a:1,,redis://b:2").unwrap_err();
        assert!(err.reason.contains("entry 2 is empty"), "{err}");
        let err = validate_redis_urls(SETTING, "redis://a:1,rediss://:pw@b:2").unwrap_err();
        assert!(err.reason.contains("mixes"), "{err}");
        assert!(!err.value.contains("pw"), "{err}");
    }

    #[test]
    fn a_single_url_with_a_comma_in_its_password_stays_one_url() {
        let urls = validate_redis_urls(SETTING, "redis://:a,b@h:6379").unwrap();
        assert!(!urls.is_cluster());
    }
}
