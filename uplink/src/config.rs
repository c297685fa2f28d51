//! Where the collector is and which token to send: from flags, then the
//! environment (`FRONTIER_COLLECTOR`, `FRONTIER_TOKEN`), then the config file
//! (`$FRONTIER_CONFIG`, else `~/.config/frontier/config.toml`):
//!
//! ```toml
//! collector = "https://collector.example:8787"
//! token_file = "/etc/frontier/token"   # or: token = "frt_..."
//! ```
//!
//! A file that holds a token (the config with `token`, or `token_file`) must
//! not be readable by group or others: it is refused with the `chmod` that
//! fixes it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("no collector URL; fix: pass one (frontier upload URL, --upload URL), set FRONTIER_COLLECTOR, or put collector = \"...\" in {config}")]
    NoUrl { config: String },
    #[error("no token for {url}; fix: pass --token, set FRONTIER_TOKEN, or put token_file = \"...\" in {config} (frontier-collector token create --role device makes one)")]
    NoToken { url: String, config: String },
    #[error(
        "{path}: holds a token and is readable by others (mode {mode:o}); fix: chmod 600 {path}"
    )]
    Exposed { path: String, mode: u32 },
    #[error("{path}: {detail}")]
    Unreadable { path: String, detail: String },
    #[error("'{url}' is not an http:// or https:// URL; fix: e.g. http://127.0.0.1:8787")]
    BadUrl { url: String },
}

/// The config file's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    collector: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

/// A resolved collector and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub token: String,
}

/// The config file's path: `$FRONTIER_CONFIG`, else `~/.config/frontier/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FRONTIER_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("frontier/config.toml"))
}

/// A file that holds a secret, read only if its owner alone may read it
/// (else [`ConfigError::Exposed`] with the `chmod` that fixes it).
pub fn private_text(path: &Path) -> Result<String, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|e| ConfigError::Unreadable {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Exposed {
            path: path.display().to_string(),
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// [`resolve`] from this process's environment and its config file.
pub fn resolve_here(url: Option<&str>, token: Option<&str>) -> Result<Target, ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    resolve(url, token, &env, config_path().as_deref())
}

/// Resolve the collector and token. `url` and `token` are the flags'
/// values; `env` reads an environment variable (a parameter, for tests).
pub fn resolve(
    url: Option<&str>,
    token: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    config: Option<&Path>,
) -> Result<Target, ConfigError> {
    let config_name = config
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "$FRONTIER_CONFIG".into());
    let file: File = match config.filter(|p| p.exists()) {
        None => File::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
            let f: File = toml::from_str(&text).map_err(|e| ConfigError::Unreadable {
                path: path.display().to_string(),
                detail: format!("not a frontier config: {}", e.message()),
            })?;
            if f.token.is_some() {
                private_text(path)?;
            }
            f
        }
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let url = nonempty(url.map(String::from))
        .or_else(|| nonempty(env("FRONTIER_COLLECTOR")))
        .or_else(|| nonempty(file.collector.clone()))
        .ok_or(ConfigError::NoUrl {
            config: config_name.clone(),
        })?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::BadUrl { url });
    }
    let token = match nonempty(token.map(String::from)).or_else(|| nonempty(env("FRONTIER_TOKEN")))
    {
        Some(t) => t,
        None => match (&file.token, &file.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(tf)) => private_text(tf)?.trim().to_string(),
            (None, None) => {
                return Err(ConfigError::NoToken {
                    url,
                    config: config_name,
                })
            }
        },
    };
    Ok(Target {
        url: url.trim_end_matches('/').to_string(),
        token: token.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontier_testkit::scratch;

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn flags_then_env_then_file() {
        let d = scratch("order");
        let cfg = d.join("config.toml");
        write(
            &cfg,
            "collector = \"http://file:1\"\ntoken = \"frt_file\"\n",
            0o600,
        );
        let env = |k: &str| match k {
            "FRONTIER_COLLECTOR" => Some("http://env:2/".to_string()),
            _ => None,
        };
        let t = resolve(None, None, &env, Some(&cfg)).unwrap();
        assert_eq!(
            t,
            Target {
                url: "http://env:2".into(),
                token: "frt_file".into()
            }
        );
        let t = resolve(Some("https://flag:3"), Some("frt_flag"), &env, Some(&cfg)).unwrap();
        assert_eq!(
            t,
            Target {
                url: "https://flag:3".into(),
                token: "frt_flag".into()
            }
        );
        let none = |_: &str| None;
        let t = resolve(None, None, &none, Some(&cfg)).unwrap();
        assert_eq!(t.url, "http://file:1");
    }

    #[test]
    fn token_files_readable_by_others_are_refused() {
        let d = scratch("perm");
        let cfg = d.join("config.toml");
        let none = |_: &str| None;
        write(
            &cfg,
            "collector = \"http://c:1\"\ntoken = \"frt_x\"\n",
            0o644,
        );
        let e = resolve(None, None, &none, Some(&cfg)).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("chmod 600 {}", cfg.display())),
            "{e}"
        );
        let tf = d.join("token");
        write(&tf, "frt_from_file\n", 0o640);
        write(
            &cfg,
            &format!(
                "collector = \"http://c:1\"\ntoken_file = \"{}\"\n",
                tf.display()
            ),
            0o644,
        );
        assert!(matches!(
            resolve(None, None, &none, Some(&cfg)),
            Err(ConfigError::Exposed { .. })
        ));
        std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            resolve(None, None, &none, Some(&cfg)).unwrap().token,
            "frt_from_file"
        );
    }

    #[test]
    fn missing_or_bad_values_name_the_fix() {
        let none = |_: &str| None;
        assert!(matches!(
            resolve(None, None, &none, None),
            Err(ConfigError::NoUrl { .. })
        ));
        assert!(matches!(
            resolve(Some("ftp://x"), Some("t"), &none, None),
            Err(ConfigError::BadUrl { .. })
        ));
        let e = resolve(Some("http://x"), None, &none, None).unwrap_err();
        assert!(e.to_string().contains("FRONTIER_TOKEN"), "{e}");
        let d = scratch("bad");
        let cfg = d.join("config.toml");
        write(&cfg, "colector = \"http://typo\"\n", 0o600);
        assert!(matches!(
            resolve(None, None, &none, Some(&cfg)),
            Err(ConfigError::Unreadable { .. })
        ));
    }
}
