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
    reports_family(name, Path::new(path.trim()))?;
    Ok((name.to_string(), PathBuf::from(path.trim())))
}

/// `path --version` must name `name`'s family (`prometheus, version …`,
/// Jaeger's `application version` log line): a wrong program chosen with
/// `--bin` is an input error before anything starts, not a component that
/// fails after the others have started. It gets 5 s to answer.
fn reports_family(name: &str, path: &Path) -> Result<(), String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {} cannot be run: {e}", path.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name}: `{} --version` did not answer within 5 s",
                    path.display()
                ));
            }
        }
    }
    let mut text = String::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let _ = pipe.take(4096).read_to_string(&mut text);
    }
    // Jaeger v2 has no `--version`: it logs its `application version`
    // before refusing the flag.
    let jaeger_v2 = name == "jaeger" && text.contains("application version:");
    if text.to_lowercase().contains(name) || jaeger_v2 {
        Ok(())
    } else {
        let first = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>();
        Err(format!(
            "{name}: `{} --version` says {first:?}, not {name}: is it the right program?",
            path.display()
        ))
    }
}

/// `name` is choosable and `path` an existing file this user may execute:
/// known before anything starts, so a wrong choice is an input error
/// (exit 2), not a component that fails after six others have started.
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
    if !executable(path) {
        return Err(format!(
            "{name}: {} is not executable (chmod +x it, or give the path of an installed binary)",
            path.display()
        ));
    }
    Ok(())
}

/// Whether `path` has an execute bit this process can use.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let mode = meta.permissions().mode();
    if nix::unistd::geteuid().is_root() {
        return mode & 0o111 != 0;
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
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
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prometheus");
        std::fs::write(
            &exe,
            "#!/bin/sh\necho 'prometheus, version 3.16.0 (amtool and all)'\n",
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
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

    #[test]
    fn a_file_that_cannot_be_executed_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("prometheus");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check("prometheus", &f).unwrap_err();
        assert!(e.contains("is not executable"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check("prometheus", &f).is_ok());
    }

    #[test]
    fn a_program_that_is_not_the_component_is_refused_at_parse() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |file: &str, body: &str| {
            let f = dir.path().join(file);
            std::fs::write(&f, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
            f
        };
        let real = script(
            "prom",
            "echo 'prometheus, version 2.42.0+ds (branch: debian/sid)'",
        );
        assert!(parse_one(&format!("prometheus={}", real.display())).is_ok());
        let wrong = script("other", "echo 'hello'");
        let e = parse_one(&format!("prometheus={}", wrong.display())).unwrap_err();
        assert!(e.contains("says \"hello\", not prometheus"), "{e}");
        let jaeger = script(
            "jaeger",
            "echo '2026/12/01 application version: git-commit=, git-version=v1.76.0' >&2; exit 1",
        );
        assert!(parse_one(&format!("jaeger={}", jaeger.display())).is_ok());
        let hang = script("hang", "sleep 30");
        let started = std::time::Instant::now();
        let e = parse_one(&format!("amtool={}", hang.display())).unwrap_err();
        assert!(e.contains("did not answer within 5 s"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
