//! PKCS#11 module libraries, each loaded and initialised once per process.
//!
//! `C_Initialize` is process-wide: calling it a second time fails, and dropping a cryptoki
//! context does not call `C_Finalize`. So the contexts live in one registry keyed by library
//! path, are handed out as cheap clones, and are finalised only by [`finalize_modules`], which
//! the program calls once it has closed every session.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::HsmError;

fn registry() -> MutexGuard<'static, HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock leaves the map itself consistent (inserts are atomic).
    modules
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The initialised context of the module at `path`, loading it on first use.
pub fn module(environment: &str, path: &Path) -> Result<Pkcs11, HsmError> {
    let mut modules = registry();
    if let Some(context) = modules.get(path) {
        return Ok(context.clone());
    }

    let missing = |reason: String| HsmError::ModuleMissing {
        environment: environment.to_owned(),
        module: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(missing(String::from("no such file")));
    }
    let context = Pkcs11::new(path).map_err(|error| missing(error.to_string()))?;

    let args = CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
    match context.initialize(args) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => return Err(HsmError::from_cryptoki(environment, "C_Initialize", error)),
    }
    tracing::debug!(module = %path.display(), "initialised PKCS#11 module");

    modules.insert(path.to_path_buf(), context.clone());
    Ok(context)
}

/// Finalises every module this process initialised. Close all sessions first.
///
/// Returns the paths whose `C_Finalize` failed, with the reason; the registry is emptied either
/// way, so a later [`module`] call initialises afresh.
pub fn finalize_modules() -> Vec<(PathBuf, String)> {
    let drained: Vec<(PathBuf, Pkcs11)> = registry().drain().collect();
    let mut failures = Vec::new();
    for (path, context) in drained {
        match context.finalize() {
            Ok(()) => tracing::debug!(module = %path.display(), "finalised PKCS#11 module"),
            Err(error) => failures.push((path, error.to_string())),
        }
    }
    failures
}
