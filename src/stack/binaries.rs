//! Which program runs each component: the version matrix. `--bin
//! NAME=PATH` (or `ZETA_BIN="NAME=PATH,…"`) and a scenario's
//! `stack.binaries` choose the binary for prometheus, promtool,
//! alertmanager, amtool and jaeger. Otherwise the component's usual names
//! are looked up on PATH, then in the install cache that
//! `scripts/install.sh` fills with the Go-built components
//! ([`tools_dir`]`/bin`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The components whose binary can be chosen.
pub const CHOOSABLE: &[&str] = crate::scenario::CHOOSABLE_BINARIES;

/// The environment variable `--bin` reads as its default.
pub const ENV: &str = "ZETA_BIN";

/// Chosen binaries, by component.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Binaries(BTreeMap<String, PathBuf>);

impl Binaries {
    pub fn new(map: BTreeMap<String, PathBuf>) -> Binaries {
        Binaries(map)
    }

    pub fn get(&self, component: &str) -> Option<&Path> {
        self.0.get(component).map(PathBuf::as_path)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These choices, with `lower`'s for the components these leave open.
    pub fn over(mut self, lower: &Binaries) -> Binaries {
        for (k, v) in &lower.0 {
            self.0.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }

    /// `NAME=PATH,…` as `ZETA_BIN` holds it.
    pub fn parse_list(s: &str) -> Result<Binaries, String> {
        let mut map = BTreeMap::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, path) = parse_one(item)?;
            map.insert(name, path);
        }
        Ok(Binaries(map))
    }

    /// From `ZETA_BIN`, when set.
    pub fn from_env() -> Result<Binaries, String> {
        match std::env::var(ENV) {
            Ok(s) => Binaries::parse_list(&s).map_err(|e| format!("{ENV}: {e}")),
            Err(_) => Ok(Binaries::default()),
        }
    }

    /// A scenario's `stack.binaries`.
    pub fn of(stack: &crate::scenario::StackRef) -> Binaries {
        Binaries(
            stack
                .binaries
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_path()))
    }
}

/// One `NAME=PATH`: a known component and an executable file.
pub fn parse_one(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH, found {s:?}"))?;
    let name = name.trim();
    check(name, Path::new(path.trim()))?;
    Ok((name.to_string(), PathBuf::from(path.trim())))
}

/// `name` is choosable and `path` an existing file.
pub fn check(name: &str, path: &Path) -> Result<(), String> {
    if !CHOOSABLE.contains(&name) {
        return Err(format!(
            "expected one of {}, found {name:?}",
            CHOOSABLE.join(", ")
        ));
    }
    if !path.is_file() {
        return Err(format!(
            "{name}: {} is not a file (build the Go components with scripts/install.sh, or give the path of an installed binary)",
            path.display()
        ));
    }
    Ok(())
}

/// Where `scripts/install.sh` builds the Go components: `$ZETA_TOOLS_DIR`,
/// else `$XDG_CACHE_HOME/zeta-bench/tools`, else `~/.cache/zeta-bench/tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ZETA_TOOLS_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("zeta-bench").join("tools")
}

/// `name` in the install cache, when built there.
pub fn cached(name: &str) -> Option<PathBuf> {
    let p = tools_dir().join("bin").join(name);
    p.is_file().then_some(p)
}

/// The program for `component`: the chosen one, else the first of
/// `candidates` on PATH, else in the install cache.
pub fn find(binaries: &Binaries, component: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = binaries.get(component) {
        return Some(p.to_path_buf());
    }
    super::process::which_any(candidates).or_else(|| candidates.iter().find_map(|c| cached(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_checked() {
        let exe = std::env::current_exe().unwrap();
        let ok = format!("prometheus={}", exe.display());
        assert_eq!(parse_one(&ok).unwrap().1, exe);
        assert!(parse_one("prometheus").unwrap_err().contains("NAME=PATH"));
        assert!(
            parse_one("grafana=/bin/sh")
                .unwrap_err()
                .contains("expected one of")
        );
        assert!(
            parse_one("jaeger=/no/such/file")
                .unwrap_err()
                .contains("is not a file")
        );
        let list = Binaries::parse_list(&format!("{ok}, amtool={}", exe.display())).unwrap();
        assert_eq!(list.iter().count(), 2);
        assert!(Binaries::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn higher_choices_win_and_the_rest_fall_through() {
        let a = Binaries::new(BTreeMap::from([("prometheus".into(), PathBuf::from("/a"))]));
        let b = Binaries::new(BTreeMap::from([
            ("prometheus".into(), PathBuf::from("/b")),
            ("jaeger".into(), PathBuf::from("/j")),
        ]));
        let m = a.over(&b);
        assert_eq!(m.get("prometheus"), Some(Path::new("/a")));
        assert_eq!(m.get("jaeger"), Some(Path::new("/j")));
        assert_eq!(
            find(&m, "prometheus", &["prometheus"]),
            Some(PathBuf::from("/a"))
        );
    }
}
