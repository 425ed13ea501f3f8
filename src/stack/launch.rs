//! How one component is launched: as a child process whose program is
//! found on PATH (native), or as a container of the image
//! `stack/docker-compose.yml` pins for it (docker). The stages above ask
//! the launcher, so that they read the same for both providers.

use std::path::{Path, PathBuf};

use super::binaries::{self, Binaries};
use super::docker::{Container, Images};
use super::process::{self, Spec, Supervised, Unit};

pub enum Mode {
    Process,
    Docker { images: Images, run_dir: PathBuf },
}

pub struct Launcher {
    mode: Mode,
    binaries: Binaries,
}

impl Launcher {
    pub fn new(mode: Mode, binaries: Binaries) -> Launcher {
        Launcher { mode, binaries }
    }

    fn image(&self, component: &str) -> Option<&str> {
        match &self.mode {
            Mode::Docker { images, .. } => images.get(component),
            Mode::Process => None,
        }
    }

    /// Whether `component` runs from its image.
    pub fn containerised(&self, component: &str) -> bool {
        self.image(component).is_some()
    }

    /// The program for `component`: natively the chosen binary, else the
    /// first of `candidates` on PATH, else in the install cache; in docker,
    /// the image has it (its first name is what a script entrypoint is
    /// given).
    pub fn program(&self, component: &str, candidates: &[&str]) -> Option<PathBuf> {
        if self.containerised(component) {
            return candidates.first().map(PathBuf::from);
        }
        binaries::find(&self.binaries, component, candidates)
    }

    /// The program, or an error naming the package that provides it.
    pub fn require(
        &self,
        component: &str,
        candidates: &[&str],
        package: &str,
    ) -> anyhow::Result<PathBuf> {
        self.program(component, candidates).ok_or_else(|| {
            anyhow::anyhow!(
                "{} not found on PATH; install the Debian/Ubuntu package `{package}` (scripts/install.sh does)",
                candidates.join(" or ")
            )
        })
    }

    /// Its version as recorded in the result: the image natively pinned,
    /// else the first line of `program --version`.
    pub async fn version(&self, component: &str, program: &Path) -> Option<String> {
        match self.image(component) {
            Some(i) => Some(format!("image {i}")),
            None => process::version(program).await,
        }
    }

    /// The unit that runs `spec`.
    pub fn unit(&self, spec: Spec) -> Unit {
        match &self.mode {
            Mode::Docker { images, run_dir } => match images.get(&spec.name) {
                Some(image) => Unit::Container(Container::new(spec, image, run_dir)),
                None => Unit::Process(Supervised::new(spec)),
            },
            Mode::Process => Unit::Process(Supervised::new(spec)),
        }
    }
}
